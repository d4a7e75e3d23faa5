"""Passkeys (SPEC G1, WebAuthn Level 2 through ``py_webauthn``): the one
phishing-resistant method. A browser answers a challenge only for the site
(relying party) the passkey was made for, so a look-alike page gets nothing
it could replay.

The server keeps, per user, the credential's id, its public key and the
authenticator's signature counter; none of it is secret. Each ceremony's
challenge is 32 random bytes kept server-side (the pending registration, or
the flow) and used once.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

#: The longest credential (JSON from the browser) read: attestation "none"
#: keeps it to a few hundred bytes.
MAX_CREDENTIAL = 16 * 1024
#: Milliseconds the browser gives the user to answer.
TIMEOUT_MS = 120_000


class PasskeyRefused(Exception):
    """The browser's answer does not prove the passkey; the text says why (for logs)."""


@dataclasses.dataclass(frozen=True)
class RelyingParty:
    """The site passkeys are made for: its host name (``rp_id``) and origin."""

    id: str
    origin: str
    name: str


@dataclasses.dataclass(frozen=True)
class Passkey:
    credential_id: str  # base64url
    public_key: str  # base64url, COSE
    sign_count: int


def site(public_url: str | None, request_url: str, name: str) -> RelyingParty:
    """The site passkeys are made for and used at: the public URL's host, or
    the host the request came to."""
    url = urlsplit(public_url or request_url)
    return RelyingParty(id=url.hostname or "", origin=f"{url.scheme}://{url.netloc}", name=name)


def new_challenge() -> str:
    return bytes_to_base64url(secrets.token_bytes(32))


def registration_options(
    rp: RelyingParty,
    *,
    challenge: str,
    user_handle: str,
    user_name: str,
    display_name: str,
    exclude: Sequence[str] = (),
) -> str:
    """The JSON ``navigator.credentials.create()`` takes (after the page's
    script decodes its base64url fields); ``exclude``: the ids of passkeys the
    user has already, so that one authenticator is not registered twice."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user_name,
        user_id=user_handle.encode(),
        user_display_name=display_name,
        challenge=base64url_to_bytes(challenge),
        timeout=TIMEOUT_MS,
        exclude_credentials=_descriptors(exclude),
        # Discoverable: the gate asks for "a passkey of this site", naming no
        # credential, so its page is the same for every username (T2).
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )
    return options_to_json(options)


def authentication_options(rp: RelyingParty, *, challenge: str, allow: Sequence[str] = ()) -> str:
    """The JSON ``navigator.credentials.get()`` takes: a passkey of this
    site, the user verified (their device's PIN or biometrics). By default
    no credential is named, so the options are the same for every username
    (T2); the server then checks that the answer is the flow's user's own
    passkey. ``allow`` names the credentials of someone known already (an
    administrator past their password)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=base64url_to_bytes(challenge),
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def answered_by(credential: str) -> str:
    """The id (base64url) of the credential an answer claims to be from: which
    of someone's passkeys to check it against.

    Raises:
        PasskeyRefused: the answer is malformed.
    """
    found = _parsed(credential).get("id")
    if not isinstance(found, str) or not found:
        raise PasskeyRefused("the answer names no credential")
    return found


def _descriptors(ids: Sequence[str]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(i)) for i in ids]


def _parsed(credential: str) -> dict[str, Any]:
    if not credential or len(credential) > MAX_CREDENTIAL:
        raise PasskeyRefused("no credential, or one too large")
    try:
        parsed = json.loads(credential)
    except (ValueError, RecursionError):
        raise PasskeyRefused("the credential is not JSON") from None
    if not isinstance(parsed, dict):
        raise PasskeyRefused("the credential is not a JSON object")
    return parsed


def verify_registration(rp: RelyingParty, *, challenge: str, credential: str) -> Passkey:
    """The passkey a registration answer proves.

    Raises:
        PasskeyRefused: it is malformed, for another site or challenge, or
            its signature does not hold.
    """
    try:
        verified = verify_registration_response(
            credential=_parsed(credential),
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyRefused(f"registration: {type(exc).__name__}: {exc}") from None
    return Passkey(
        bytes_to_base64url(verified.credential_id),
        bytes_to_base64url(verified.credential_public_key),
        verified.sign_count,
    )


def verify_authentication(
    rp: RelyingParty, *, challenge: str, credential: str, passkey: Passkey
) -> int:
    """The authenticator's new signature counter, if the answer proves ``passkey``.

    Raises:
        PasskeyRefused: as :func:`verify_registration`, or the answer is for
            another credential, or its counter went back (a cloned authenticator).
    """
    parsed = _parsed(credential)
    if parsed.get("id") != passkey.credential_id:
        raise PasskeyRefused("the answer is for another credential")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyRefused(f"authentication: {type(exc).__name__}: {exc}") from None
    return int(verified.new_sign_count)


def counter_after(
    rp: RelyingParty, *, challenge: str, credential: str, passkey: Passkey
) -> int | None:
    """The signature counter to store once an answer proves ``passkey``; None
    when it does not. 0: the authenticator keeps no counter (most synced
    passkeys), nothing to store. The caller stores any other count in one
    statement, and only over a lower one, so that a replayed answer, or one
    of a cloned authenticator, fails."""
    try:
        return verify_authentication(
            rp, challenge=challenge, credential=credential, passkey=passkey
        )
    except PasskeyRefused:
        return None
