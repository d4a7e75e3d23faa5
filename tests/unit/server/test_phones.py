"""Phone numbers in E.164 (SPEC G3, G4)."""

from __future__ import annotations

import pytest

from passback.server import phones


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+55 11 91234-5678", None, "+5511912345678"),
        ("(11) 91234-5678", "BR", "+5511912345678"),
        ("(11) 91234-5678", "br", "+5511912345678"),
        ("+1 425 555 0100 x123", None, "+14255550100"),  # the extension is never dialled
        ("+1 425 555 0100 ext. 12", "US", "+14255550100"),
        ("425-555-0100", None, None),  # no country code, no region
        ("abc", "US", None),
        ("", "US", None),
        (None, "US", None),
        ("+1 2", None, None),  # not a possible number
        ("+" + "1" * 70, None, None),  # longer than any directory holds
    ],
)
def test_e164(text: str | None, region: str | None, expected: str | None) -> None:
    assert phones.e164(text, region) == expected


def test_masked_shows_the_last_two_digits_only() -> None:
    assert phones.masked("+5511912345678") == "•" * 11 + "78"
    assert phones.masked("+1") == "+1"


def test_region() -> None:
    assert phones.is_region("BR") and phones.is_region("us")
    assert not phones.is_region("XX")
