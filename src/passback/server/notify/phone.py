"""What the portal hands the phone seam (``types.PhoneSender``), and how
sending fails (SPEC G1: mobile SMS, mobile and office voice calls).

A provider takes a :class:`PhoneMessage` to one E.164 number, as a text
message or as a voice call that reads the text out; it says which channels it
can use (``channels``), and the portal offers only the phone methods those
allow. Three providers: ``phone_outbox`` (a folder, for the demo and tests),
``phone_http`` (any HTTP gateway, configured) and ``phone_twilio``.

Exception tree::

    PhoneError                the provider did not accept the message
"""

from __future__ import annotations

import dataclasses
import enum


class PhoneError(Exception):
    """Sending failed; the text names the provider and the reason, never the body."""


class Channel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"


@dataclasses.dataclass(frozen=True)
class PhoneMessage:
    to: str  # E.164
    channel: Channel
    text: str = dataclasses.field(repr=False)  # holds a one-time code (S7)
    language: str = "en"


def spoken(code: str) -> str:
    """A code as a voice reads it out: digit by digit, in groups."""
    return ", ".join(" ".join(code[i : i + 4]) for i in range(0, len(code), 4))
