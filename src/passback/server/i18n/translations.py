"""Catalogues, language negotiation and a per-request translator.

The ``.po`` files are the only source: they are compiled in memory when the
app starts (Babel ``read_po`` + ``write_mo``), so a fresh clone needs no build
step and no compiled file can drift from its source.

Marking: Python code marks text with ``_`` (translated at once) or ``N_``
(marked for extraction, translated where it is shown); templates call ``_``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gettext
import io
from collections.abc import Mapping
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "passback"
#: Every language the portal speaks, as (locale, tag for URLs and headers).
LOCALES: Mapping[str, str] = {"en": "en", "pt_BR": "pt-BR"}
DEFAULT_LOCALE = "en"
#: At most this many Accept-Language entries are read (the header is the client's).
MAX_LANGUAGE_RANGES = 16


def N_(message: str) -> str:
    """Marks ``message`` for extraction; translated where it is shown."""
    return message


Catalogs = Mapping[str, gettext.GNUTranslations]


def load_catalogs(directory: Path = LOCALES_DIR) -> Catalogs:
    """Every locale's catalogue, compiled from its ``.po`` file.

    Raises:
        FileNotFoundError: a locale of ``LOCALES`` has no catalogue.
    """
    catalogs: dict[str, gettext.GNUTranslations] = {}
    for locale in LOCALES:
        path = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogs[locale] = gettext.GNUTranslations(compiled)
    return catalogs


def locale_of(tag: str | None) -> str | None:
    """The supported locale for a language tag (``pt-br``, ``pt``, ``en-GB``…)."""
    if not tag:
        return None
    try:
        parsed = Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    exact = f"{parsed.language}_{parsed.territory}" if parsed.territory else parsed.language
    if exact in LOCALES:
        return exact
    # A language without a supported region: its first supported region.
    return next((loc for loc in LOCALES if loc.split("_")[0] == parsed.language), None)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The locale for a request: the one ``chosen`` with the switch if it is
    supported, else the best of Accept-Language (RFC 9110 §12.5.4), else English."""
    picked = locale_of(chosen)
    if picked:
        return picked
    ranges: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:MAX_LANGUAGE_RANGES]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranges.append((-quality, index, tag))
    for _quality, _index, tag in sorted(ranges):
        picked = locale_of(tag)
        if picked:
            return picked
    return DEFAULT_LOCALE


@dataclasses.dataclass(frozen=True)
class Translator:
    """Everything one request needs to speak its user's language."""

    locale: str
    translations: gettext.GNUTranslations

    @classmethod
    def for_locale(cls, catalogs: Catalogs, locale: str) -> Translator:
        return cls(locale, catalogs[locale])

    @property
    def tag(self) -> str:
        """The BCP 47 tag, for ``lang=`` and ``Content-Language``."""
        return LOCALES[self.locale]

    def gettext(self, message: str, **values: object) -> str:
        """``message`` translated, then ``%(name)s`` fields filled from ``values``."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def datetime(self, when: dt.datetime) -> str:
        """A date and time in the user's language, in UTC, with the zone named."""
        return format_datetime(when, "long", tzinfo=dt.UTC, locale=self.locale)
