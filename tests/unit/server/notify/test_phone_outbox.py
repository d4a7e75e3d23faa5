from __future__ import annotations

import stat
from pathlib import Path

import pytest

from passback.server.notify.phone import Channel, PhoneError, PhoneMessage
from passback.server.notify.phone_outbox import OutboxSender, read_outbox


async def test_each_message_is_one_private_file(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    sender = OutboxSender(folder)
    await sender.send(PhoneMessage("+5511912345678", Channel.SMS, "one", "pt-BR"))
    await sender.send(PhoneMessage("+5511912345678", Channel.VOICE, "two"))
    found = read_outbox(folder)
    assert [(m["channel"], m["text"], m["language"]) for m in found] == [
        ("sms", "one", "pt-BR"),
        ("voice", "two", "en"),
    ]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sender.channels == frozenset(Channel)


async def test_a_folder_that_cannot_be_written_is_a_phone_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PhoneError, match="outbox"):
        await OutboxSender(blocker / "outbox").send(PhoneMessage("+1", Channel.SMS, "x"))


def test_no_folder_no_messages(tmp_path: Path) -> None:
    assert read_outbox(tmp_path / "none") == []
