"""Passkeys (SPEC G1): registration and authentication answers checked
against real signatures of a software authenticator."""

from __future__ import annotations

import json

import pytest

from passback.server.portal.gates import passkey
from tests.support.webauthn import SoftAuthenticator

RP = passkey.RelyingParty("sspr.acme.test", "https://sspr.acme.test", "Acme")


def registered(device: SoftAuthenticator) -> passkey.Passkey:
    challenge = passkey.new_challenge()
    options = json.loads(
        passkey.registration_options(
            RP,
            challenge=challenge,
            user_handle="u-1",
            user_name="jdoe@acme.test",
            display_name="jdoe",
        )
    )
    assert options["rp"] == {"id": "sspr.acme.test", "name": "Acme"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["challenge"] == challenge
    return passkey.verify_registration(RP, challenge=challenge, credential=device.register(options))


def test_register_then_authenticate() -> None:
    device = SoftAuthenticator(RP.origin, RP.id)
    made = registered(device)
    challenge = passkey.new_challenge()
    options = json.loads(passkey.authentication_options(RP, challenge=challenge))
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    count = passkey.verify_authentication(
        RP, challenge=challenge, credential=device.authenticate(options), passkey=made
    )
    assert count == 1


def test_an_answer_for_another_site_or_challenge_is_refused() -> None:
    """Phishing resistance: a look-alike origin's answer proves nothing."""
    device = SoftAuthenticator(RP.origin, RP.id)
    made = registered(device)
    challenge = passkey.new_challenge()
    options = {"challenge": challenge}
    for answer in (
        SoftAuthenticator("https://sspr.acme-login.test", RP.id).authenticate(options),
        device.authenticate({"challenge": passkey.new_challenge()}),
    ):
        with pytest.raises(passkey.PasskeyRefused):
            passkey.verify_authentication(RP, challenge=challenge, credential=answer, passkey=made)
    phished = SoftAuthenticator("https://sspr.acme-login.test", "acme-login.test")
    with pytest.raises(passkey.PasskeyRefused):
        passkey.verify_registration(RP, challenge=challenge, credential=phished.register(options))


def test_a_counter_that_goes_back_is_a_cloned_authenticator() -> None:
    device = SoftAuthenticator(RP.origin, RP.id)
    made = registered(device)
    challenge = passkey.new_challenge()
    answer = device.authenticate({"challenge": challenge})
    later = passkey.Passkey(made.credential_id, made.public_key, sign_count=5)
    with pytest.raises(passkey.PasskeyRefused):
        passkey.verify_authentication(RP, challenge=challenge, credential=answer, passkey=later)


def test_another_credential_is_refused() -> None:
    made = registered(SoftAuthenticator(RP.origin, RP.id))
    other = SoftAuthenticator(RP.origin, RP.id)
    challenge = passkey.new_challenge()
    answer = other.authenticate({"challenge": challenge})
    with pytest.raises(passkey.PasskeyRefused, match="another credential"):
        passkey.verify_authentication(RP, challenge=challenge, credential=answer, passkey=made)


@pytest.mark.parametrize(
    "credential",
    ["", "x" * (passkey.MAX_CREDENTIAL + 1), "not json", "[1]", "{}", '{"id": 5}', "[" * 5000],
)
def test_malformed_answers_are_refused(credential: str) -> None:
    made = registered(SoftAuthenticator(RP.origin, RP.id))
    challenge = passkey.new_challenge()
    with pytest.raises(passkey.PasskeyRefused):
        passkey.verify_registration(RP, challenge=challenge, credential=credential)
    with pytest.raises(passkey.PasskeyRefused):
        passkey.verify_authentication(RP, challenge=challenge, credential=credential, passkey=made)


def test_a_user_not_verified_is_refused() -> None:
    """A found security key without its PIN proves nothing by itself."""
    device = SoftAuthenticator(RP.origin, RP.id)
    made = registered(device)
    challenge = passkey.new_challenge()
    present_only = device.authenticate({"challenge": challenge}, verified=False)
    with pytest.raises(passkey.PasskeyRefused):
        passkey.verify_authentication(
            RP, challenge=challenge, credential=present_only, passkey=made
        )
