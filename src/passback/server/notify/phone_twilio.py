"""A phone provider for Twilio's REST API (2010-04-01): a text message is a
``Messages`` resource, a voice call a ``Calls`` resource whose TwiML says the
text in the message's language. HTTP basic authentication with the account
SID and auth token; ``base_url`` is only changed for tests."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import httpx

from passback.server.notify.phone import Channel, PhoneError, PhoneMessage

API = "https://api.twilio.com"
#: The voice's language per portal language.
VOICE_LANGUAGES = {"en": "en-US", "pt-BR": "pt-BR"}


def twiml(text: str, language: str) -> str:
    spoken = VOICE_LANGUAGES.get(language, "en-US")
    # Said twice, a pause between: a listener misses the first digits.
    say = f"<Say language={quoteattr(spoken)}>{escape(text)}</Say>"
    return f'<Response>{say}<Pause length="1"/>{say}</Response>'


class TwilioSender:
    channels = frozenset(Channel)

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        base_url: str = API,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"TwilioSender({self.account_sid!r}, from={self.sender!r})"

    async def send(self, message: PhoneMessage) -> None:
        account = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}"
        form = {"To": message.to, "From": self.sender}
        if message.channel is Channel.SMS:
            url = f"{account}/Messages.json"
            form["Body"] = message.text
        else:
            url = f"{account}/Calls.json"
            form["Twiml"] = twiml(message.text, message.language)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            ) as client:
                answer = await client.post(url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise PhoneError(f"twilio: {type(exc).__name__}") from None
        if not answer.is_success:
            raise PhoneError(f"twilio: HTTP {answer.status_code}")
