"""Authenticator codes (RFC 6238): drift, replay, bad input (SPEC G1)."""

from __future__ import annotations

import base64

import pyotp
import pytest

from passback.server.portal.gates import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_015.0  # inside step 56_666_667
STEP = int(NOW // 30)


def code_at(step: int) -> str:
    return pyotp.TOTP(SECRET).at(step * 30)


def test_the_rfc_6238_vector() -> None:
    """RFC 6238 appendix B, SHA-1, 8 digits at T = 59 s: 94287082."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert pyotp.TOTP(secret, digits=8).at(59) == "94287082"


def test_a_code_of_now_and_one_step_of_drift() -> None:
    assert totp.matching_step(SECRET, code_at(STEP), now=NOW, after=0) == STEP
    assert totp.matching_step(SECRET, code_at(STEP - 1), now=NOW, after=0) == STEP - 1
    assert totp.matching_step(SECRET, code_at(STEP + 1), now=NOW, after=0) == STEP + 1
    assert totp.matching_step(SECRET, code_at(STEP - 2), now=NOW, after=0) is None
    assert totp.matching_step(SECRET, code_at(STEP + 2), now=NOW, after=0) is None


def test_a_step_is_never_taken_twice() -> None:
    assert totp.matching_step(SECRET, code_at(STEP), now=NOW, after=STEP) is None
    assert totp.matching_step(SECRET, code_at(STEP - 1), now=NOW, after=STEP) is None
    assert totp.matching_step(SECRET, code_at(STEP + 1), now=NOW, after=STEP) == STEP + 1


@pytest.mark.parametrize(
    "typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123 456\0", "x" * 10_000, "٣" * 6]
)
def test_bad_input_is_simply_wrong(typed: str) -> None:
    assert totp.matching_step(SECRET, typed, now=NOW, after=0) is None


def test_spaces_are_ignored() -> None:
    code = code_at(STEP)
    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]} ", now=NOW, after=0) == STEP


def test_enrolment() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, account="alice@contoso.test", issuer="Contoso")
    assert uri.startswith("otpauth://totp/Contoso:alice%40contoso.test?secret=")
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<title>QR code</title>" in svg and "<script" not in svg
