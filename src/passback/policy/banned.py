"""Common and easily guessed passwords, refused before they reach the directory.

The directory's complexity rule accepts ``Summer2026!`` or ``P@ssw0rd1``: three
kinds of character, long enough. Attackers try those first. A password is
refused when, after normalising (case, compatibility forms, common character
substitutions such as ``@`` for ``a``, digits and symbols added at either end),
it is one of the most common leaked passwords, or it contains a word the tenant
bans (its own name, its products).

The common passwords are the 30,000 of zxcvbn's frequency list (MIT), shipped
in the package, and the seasons and months sprayed with a year: nothing is
fetched at run time.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Iterable

#: Shorter words are too likely to turn up inside unrelated passwords.
MIN_BANNED_WORD_LENGTH = 3
#: Parts of a tenant's name or slug shorter than this ("SA", "Ltd", "Inc") are
#: no guess an attacker would start from, and would refuse unrelated passwords.
MIN_NAME_PART_LENGTH = 4
#: A core shorter than this left after stripping digits and symbols is in the
#: list by chance (``xy``, ``abc``); the whole password is still checked.
MIN_CORE_LENGTH = 4

#: Password spraying tries a season or a month with the year first (``Autumn2025!``);
#: the leaked list holds only a few of them. In the portal's languages.
SEASONS_AND_MONTHS = frozenset(
    {
        *("spring", "summer", "autumn", "fall", "winter"),
        *("january", "february", "march", "april", "may", "june", "july"),
        *("august", "september", "october", "november", "december"),
        *("primavera", "verao", "outono", "inverno"),
        *("janeiro", "fevereiro", "marco", "abril", "maio", "junho", "julho"),
        *("agosto", "setembro", "outubro", "novembro", "dezembro"),
    }
)

# "1", "!" and "|" stand for either "i" or "l": both readings are tried.
_SUBSTITUTIONS = {"@": "a", "4": "a", "8": "b", "3": "e", "6": "g", "9": "g", "0": "o"}
_SUBSTITUTIONS |= {"5": "s", "$": "s", "7": "t", "+": "t"}
_AS_I = str.maketrans(_SUBSTITUTIONS | {"1": "i", "!": "i", "|": "i"})
_AS_L = str.maketrans(_SUBSTITUTIONS | {"1": "l", "!": "l", "|": "l"})
#: Digits and symbols added at either end: ``Summer2026!``, ``!!Welcome1``.
_LEADING = re.compile(r"^[\W\d_]+")
_TRAILING = re.compile(r"[\W\d_]+$")
_NAME_PARTS = re.compile(r"[\W_]+")


class BannedReason(enum.StrEnum):
    COMMON = "common"  # a common leaked password, perhaps disguised
    BANNED_WORD = "banned_word"  # contains a word the tenant bans


def check_banned(password: str, banned_words: Iterable[str] = ()) -> BannedReason | None:
    """Why the password is too easy to guess, or ``None`` when it is not.

    Args:
        banned_words: the tenant's words (``tenant_words``); each is normalised
            the same way, and one shorter than ``MIN_BANNED_WORD_LENGTH`` is
            left out.
    """
    readings = _readings(password)
    common = common_passwords()
    if any(reading in common for reading in readings):
        return BannedReason.COMMON
    words = {w for word in banned_words for w in _readings(word, strip_ends=False)}
    if any(len(w) >= MIN_BANNED_WORD_LENGTH and w in r for w in words for r in readings):
        return BannedReason.BANNED_WORD
    return None


def tenant_words(name: str, slug: str, words: Iterable[str] = ()) -> list[str]:
    """The words a tenant bans: the parts of its name and slug long enough to
    be a guess, and the words it set itself."""
    parts = [name.replace(" ", ""), *_NAME_PARTS.split(f"{name} {slug}")]
    found = [p for p in parts if len(p) >= MIN_NAME_PART_LENGTH]
    return list(dict.fromkeys([*found, *(w.strip() for w in words if w.strip())]))


def normalise(password: str) -> str:
    """Case, compatibility forms and accents folded: ``Ｐａｓｓ``, ``PASS`` read
    ``pass``; ``Verão`` reads ``verao``."""
    decomposed = unicodedata.normalize("NFKD", password.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFKC", bare)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list, read once: the first check pays for it (about 80 ms)."""
    # zxcvbn builds its matchers when imported: only when first needed.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    passwords: list[str] = FREQUENCY_LISTS["passwords"]
    return frozenset(passwords) | SEASONS_AND_MONTHS


def _readings(password: str, *, strip_ends: bool = True) -> set[str]:
    """The ways an attacker's list could hold ``password``."""
    folded = normalise(password)
    forms = {folded}
    if strip_ends:
        # Trailing first: a leading "@" may stand for an "a" (``@dmin2026``).
        trailing = _TRAILING.sub("", folded)
        forms |= {
            core for core in (trailing, _LEADING.sub("", trailing)) if len(core) >= MIN_CORE_LENGTH
        }
    return {f for form in forms for f in (form, form.translate(_AS_I), form.translate(_AS_L))}
