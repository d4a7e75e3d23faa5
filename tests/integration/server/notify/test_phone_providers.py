"""The HTTP phone providers against a real HTTP server on loopback that
records what it received (SPEC G1)."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from passback.server.notify.phone import Channel, PhoneError, PhoneMessage
from passback.server.notify.phone_config import build
from passback.server.notify.phone_http import HttpGatewaySender
from passback.server.notify.phone_twilio import TwilioSender
from tests.support.gateway import Gateway

SMS = PhoneMessage("+5511912345678", Channel.SMS, 'Código: 1234 5678 "ok"', "pt-BR")
CALL = PhoneMessage("+5511912345678", Channel.VOICE, "1 2 3 4, 5 6 7 8", "pt-BR")


def gateway_sender(url: str, **extra: object) -> HttpGatewaySender:
    sender = build(
        {
            "provider": "http",
            "url": f"{url}/v1/send",
            "headers": {"Authorization": "Bearer k-1"},
            "sms": {"number": "{to}", "message": "{text}", "meta": {"lang": "{language}"}},
            "voice": {"number": "{to}", "say": "{text}", "kind": "call"},
            **extra,
        }
    )
    assert isinstance(sender, HttpGatewaySender)
    return sender


async def test_the_gateway_gets_the_configured_body_and_headers() -> None:
    with Gateway() as gateway:
        sender = gateway_sender(gateway.url)
        await sender.send(SMS)
        await sender.send(CALL)
    sms, call = gateway.received
    assert (sms.path, sms.headers["authorization"]) == ("/v1/send", "Bearer k-1")
    assert sms.headers["content-type"] == "application/json"
    assert json.loads(sms.body) == {
        "number": "+5511912345678",
        "message": 'Código: 1234 5678 "ok"',
        "meta": {"lang": "pt-BR"},
    }
    assert json.loads(call.body) == {
        "number": "+5511912345678",
        "say": "1 2 3 4, 5 6 7 8",
        "kind": "call",
    }


@pytest.mark.parametrize("status", [400, 401, 500, 302])
async def test_an_answer_that_is_not_2xx_is_a_phone_error(status: int) -> None:
    with (
        Gateway(status=status) as gateway,
        pytest.raises(PhoneError, match=f"HTTP {status}") as info,
    ):
        await gateway_sender(gateway.url).send(SMS)
    assert "1234" not in str(info.value)


async def test_a_gateway_too_slow_is_a_phone_error() -> None:
    with Gateway(delay=2.5) as gateway, pytest.raises(PhoneError, match="Timeout"):
        await gateway_sender(gateway.url, timeout=1).send(SMS)


async def test_a_gateway_nobody_listens_at() -> None:
    with Gateway() as gateway:
        url = gateway.url
    with pytest.raises(PhoneError, match="ConnectError"):
        await gateway_sender(url).send(SMS)


async def test_a_gateway_without_voice_refuses_calls() -> None:
    sender = build({"provider": "http", "url": "http://127.0.0.1:9/x", "sms": {"t": "{text}"}})
    with pytest.raises(PhoneError, match="no voice body"):
        await sender.send(CALL)


async def test_twilio_messages_and_calls() -> None:
    with Gateway(status=201) as gateway:
        sender = TwilioSender("AC123", "tok-9", "+14255550100", base_url=gateway.url)
        await sender.send(SMS)
        await sender.send(CALL)
    sms, call = gateway.received
    auth = "Basic " + base64.b64encode(b"AC123:tok-9").decode()
    assert sms.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert sms.headers["authorization"] == auth
    assert urllib.parse.parse_qs(sms.body.decode()) == {
        "To": ["+5511912345678"],
        "From": ["+14255550100"],
        "Body": ['Código: 1234 5678 "ok"'],
    }
    assert call.path == "/2010-04-01/Accounts/AC123/Calls.json"
    form = urllib.parse.parse_qs(call.body.decode())
    assert form["To"] == ["+5511912345678"]
    assert form["Twiml"][0].count('<Say language="pt-BR">1 2 3 4, 5 6 7 8</Say>') == 2


async def test_twilio_refusal() -> None:
    with Gateway(status=401) as gateway:
        sender = TwilioSender("AC123", "tok-9", "+14255550100", base_url=gateway.url)
        with pytest.raises(PhoneError, match="twilio: HTTP 401"):
            await sender.send(SMS)
