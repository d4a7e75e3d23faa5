"""Authenticator apps (SPEC G1, RFC 6238): a secret to enrol, its QR code drawn
on the server as SVG (no script, nothing fetched), and the check of a code:
one 30-second step of clock drift either way, and never a code (a step) that
was already taken — a code read over a shoulder is worth nothing afterwards.
"""

from __future__ import annotations

import hmac

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
#: Steps of clock drift accepted either way.
DRIFT = 1


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps take them."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG markup (safe to place in a page)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="QR code"))


def matching_step(secret: str, code: str, *, now: float, after: int) -> int | None:
    """The time step ``code`` belongs to, if it is right for a step within the
    drift of ``now`` and later than ``after`` (the last step taken); else None.
    Compared in constant time per step."""
    typed = "".join(code.split())
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), typed) and step > after:
            found = step
    return found
