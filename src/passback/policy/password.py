"""Checks a new password must pass before it is sealed and sent to an agent.

Only what no directory would accept: the directory enforces its own policy
(SPEC W4) and answers with an ``Outcome``. These checks save a round trip and
keep text that cannot be encoded out of the envelope.
"""

from __future__ import annotations

import enum

#: Active Directory refuses a password longer than this many UTF-16 code units
#: (Samba accepts longer ones, so we check it ourselves).
MAX_PASSWORD_UTF16_UNITS = 256

_SURROGATES = range(0xD800, 0xE000)


class PasswordProblem(enum.StrEnum):
    EMPTY = "empty"
    INVALID = "invalid"  # U+0000 or a lone surrogate: not storable text
    TOO_LONG = "too_long"  # the same word as ``Outcome.TOO_LONG``


def utf16_units(password: str) -> int:
    """Length as Active Directory counts it: UTF-16 code units."""
    return len(password.encode("utf-16-le", errors="surrogatepass")) // 2


def check_password(password: str) -> PasswordProblem | None:
    """The first problem found, or ``None`` when the password may be sent.

    A Python ``str`` holds surrogate code points only when they are unpaired
    (a JSON ``"\\ud83d\\ude00"`` pair decodes to one code point), so any
    surrogate found is a lone one.
    """
    if not password:
        return PasswordProblem.EMPTY
    if any(char == "\0" or ord(char) in _SURROGATES for char in password):
        return PasswordProblem.INVALID
    if utf16_units(password) > MAX_PASSWORD_UTF16_UNITS:
        return PasswordProblem.TOO_LONG
    return None
