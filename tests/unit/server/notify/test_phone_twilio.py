from __future__ import annotations

from passback.server.notify.phone_twilio import TwilioSender, twiml


def test_twiml_says_the_text_twice_in_the_language_escaped() -> None:
    xml = twiml("a <b> & c", "pt-BR")
    assert xml.count('<Say language="pt-BR">a &lt;b&gt; &amp; c</Say>') == 2
    assert xml.startswith("<Response>") and xml.endswith("</Response>")
    assert 'language="en-US"' in twiml("x", "fr")


def test_the_token_never_shows() -> None:
    sender = TwilioSender("AC1", "secret-token", "+15550100")
    assert "secret-token" not in repr(sender)
