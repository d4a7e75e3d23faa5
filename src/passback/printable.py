"""Text from outside, made safe to print on one line of a log or a terminal.

A username, slug, path or agent name comes from whoever sent it. Printed as
it is, ``\\r\\n`` starts a forged log line, ``ESC [`` drives the operator's
terminal, and U+202E turns the rest of the line around. ``printable`` writes
each such character as a Python-style escape (``\\r``, ``\\x1b``, ``\\u202e``)
and leaves every other character, the backslash included, as it is: so
``CONTOSO\\alice`` stays readable, and escaping twice changes nothing.
"""

from __future__ import annotations

import logging
import unicodedata

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(value: object) -> str:
    """``str(value)`` with every control, format or separator character escaped."""
    text = str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    # What Python will not print (controls, format characters such as bidi
    # overrides, line separators, lone surrogates, unassigned and private
    # code points), but spaces other than U+0020: harmless.
    if char.isprintable() or unicodedata.category(char) == "Zs":
        return char
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class PrintableFormatter(logging.Formatter):
    """A formatter whose messages are ``printable``: one record, one line (a
    traceback, added after the message, keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))
