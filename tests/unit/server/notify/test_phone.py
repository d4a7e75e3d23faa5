from __future__ import annotations

from passback.server.notify.phone import Channel, PhoneMessage, spoken


def test_a_code_is_spoken_digit_by_digit_in_groups() -> None:
    assert spoken("12345678") == "1 2 3 4, 5 6 7 8"


def test_a_message_never_shows_its_text() -> None:
    message = PhoneMessage("+5511912345678", Channel.SMS, "code 24680135")
    assert "24680135" not in repr(message)
