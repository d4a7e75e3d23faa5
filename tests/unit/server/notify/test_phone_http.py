from __future__ import annotations

from passback.server.notify.phone_http import fill


def test_placeholders_are_replaced_in_every_string_and_nothing_is_evaluated() -> None:
    template = {
        "to": "{to}",
        "parts": ["{text}", 3, True, None],
        "nested": {"lang": "{language}-x", "literal": "{0} {__class__} {other}"},
    }
    values = {"to": "+1555", "text": "code {to}", "language": "en"}
    assert fill(template, values) == {
        "to": "+1555",
        "parts": ["code {to}", 3, True, None],
        "nested": {"lang": "en-x", "literal": "{0} {__class__} {other}"},
    }
