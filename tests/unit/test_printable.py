"""Client text printed on one line: no forged log lines, no terminal escapes."""

from __future__ import annotations

import logging
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.printable import PrintableFormatter, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("alice", "alice"),
        ("CONTOSO\\alice", "CONTOSO\\alice"),
        ("jo\u00e3o.silva", "jo\u00e3o.silva"),
        ("alice\r\n2025-01-01 INFO forged", "alice\\r\\n2025-01-01 INFO forged"),
        ("a\tb", "a\\tb"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("admin\u202etxt.exe", "admin\\u202etxt.exe"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("lone \ud800", "lone \\ud800"),
        ("\U000e0041tag", "\\U000e0041tag"),
        ("no\u00a0break", "no\u00a0break"),
    ],
)
def test_escapes_what_breaks_a_line(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_takes_any_value() -> None:
    assert printable(None) == "None"
    assert printable(ValueError("bad\nvalue")) == "bad\\nvalue"


@given(st.text())
def test_one_printable_line_and_idempotent(text: str) -> None:
    shown = printable(text)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert all(c.isprintable() or unicodedata.category(c) == "Zs" for c in shown)
    assert printable(shown) == shown


def test_formatter_keeps_a_record_on_one_line() -> None:
    formatter = PrintableFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "passback.test", logging.WARNING, __file__, 1, "user %s failed", ("x\r\nINFO ok",), None
    )
    assert formatter.format(record) == "WARNING user x\\r\\nINFO ok failed"


def test_formatter_keeps_the_lines_of_a_traceback() -> None:
    formatter = PrintableFormatter("%(message)s")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "passback.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    lines = formatter.format(record).splitlines()
    assert lines[0] == "failed" and lines[1].startswith("Traceback") and len(lines) > 3
