"""Phone numbers as the phone gates use them (SPEC G3, G4): the directory's
free text and what a user types, read into E.164 and compared as such.

A number without a country code is read in the tenant's region, if it has
one; an extension ("x 123", "ext. 12") is never dialled. Only the last two
digits are ever shown.
"""

from __future__ import annotations

import phonenumbers

#: Longest text read as a number: what a directory holds (AD: 64) and more
#: than any number with an extension needs.
MAX_TEXT = 64


def e164(text: str | None, region: str | None = None) -> str | None:
    """``text`` as an E.164 number without its extension; None when it is
    not a possible phone number (or needs a region and none is given)."""
    if not text or len(text) > MAX_TEXT:
        return None
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    number.extension = None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_region(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 region that numbers have (``BR``, ``US``…)."""
    return code.upper() in phonenumbers.SUPPORTED_REGIONS


def masked(number: str) -> str:
    """An E.164 number with all but its last two digits hidden."""
    return "•" * max(len(number) - 3, 0) + number[-2:]
