"""Every message the server shows is translated, in English and in Brazilian
Portuguese (SPEC §9); the language follows Accept-Language or the switch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import passback.server
from passback.server.i18n import LOCALES, Translator, load_catalogs, negotiate
from passback.server.i18n.translations import LOCALES_DIR

SERVER = Path(passback.server.__file__).parent
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
FIELDS = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def extracted() -> set[str | tuple[str, ...]]:
    messages: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(SERVER), METHODS):
        messages.add(message if isinstance(message, str) else tuple(message))
    return messages


@pytest.mark.parametrize("locale", list(LOCALES))
def test_every_message_is_translated(locale: str) -> None:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "passback.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    found = extracted()
    assert len(found) > 50
    for message in found:
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        assert entry is not None, f"{locale}: no entry for {msgid!r}"
        assert not entry.fuzzy, f"{locale}: fuzzy {msgid!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{locale}: empty translation of {msgid!r}"
        for string in strings:  # the same fields, or formatting breaks
            assert set(FIELDS.findall(string)) <= set(
                FIELDS.findall(" ".join(message if isinstance(message, tuple) else (message,)))
            ), (locale, msgid, string)


def test_portuguese_is_portuguese() -> None:
    t = Translator.for_locale(load_catalogs(), "pt_BR")
    assert t.gettext("Reset your password") == "Redefina sua senha"
    assert t.ngettext("At least %(num)d character", "At least %(num)d characters", 1) == (
        "Pelo menos 1 caractere"
    )
    assert t.ngettext("At least %(num)d character", "At least %(num)d characters", 14) == (
        "Pelo menos 14 caracteres"
    )


@pytest.mark.parametrize(
    ("header", "chosen", "expected"),
    [
        ("pt-BR,pt;q=0.9,en;q=0.8", None, "pt_BR"),
        ("pt", None, "pt_BR"),
        ("fr, en;q=0.5, pt;q=0.4", None, "en"),
        ("en;q=0.1, pt-BR;q=0.9", None, "pt_BR"),
        ("de, fr", None, "en"),
        (None, None, "en"),
        ("garbage;q=x, pt-BR", None, "pt_BR"),
        ("pt-BR", "en", "en"),
        ("en", "pt-BR", "pt_BR"),
        ("en", "klingon", "en"),
    ],
)
def test_negotiation(header: str | None, chosen: str | None, expected: str) -> None:
    assert negotiate(header, chosen) == expected
