"""A phone provider that sends nothing: each message is written to a folder
as one JSON file (0600 in a 0700 folder), for the demo and the tests, where
no real phone can answer."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from passback.server.notify.phone import Channel, PhoneError, PhoneMessage


class OutboxSender:
    channels = frozenset(Channel)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: PhoneMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: PhoneMessage) -> None:
        body = {
            "to": message.to,
            "channel": message.channel.value,
            "language": message.language,
            "text": message.text,
            "at": time.time(),
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.folder / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, ensure_ascii=False)
            tmp.rename(self.folder / name)
        except OSError as exc:
            raise PhoneError(f"outbox {self.folder}: {exc.strerror or exc}") from None


def read_outbox(folder: Path) -> list[dict[str, object]]:
    """The messages in ``folder``, oldest first (demo and tests)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    return found
