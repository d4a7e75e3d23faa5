"""The code mail (SPEC G1, T1): the code, how long it works, and the link;
a link mail past the code caps says its code works only on the linked page."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from passback.demo.mailcatcher import find_code
from passback.server.i18n import Translator, load_catalogs
from passback.server.portal.code_mail import code_mail

LINK = "https://sspr.acme.test/portal/acme/code/abc"


def mail(locale: str, *, link: str | None = LINK, link_only: bool = False) -> str:
    t = Translator.for_locale(load_catalogs(), locale)
    message = code_mail(
        t,
        to="jdoe@acme.test",
        code="12345678",
        minutes=10,
        tenant_name="Acme",
        link=link,
        link_only=link_only,
    )
    assert message.to == "jdoe@acme.test"
    return message.body


def test_a_code_mail_names_the_code_and_the_page() -> None:
    body = mail("en")
    assert "    1234 5678\n" in body and "for 10 minutes" in body
    assert f"The page is at {LINK}" in body and "works only" not in body
    assert "The page is at" not in mail("en", link=None)


@pytest.mark.parametrize(
    ("locale", "words"),
    [("en", "open this page and type the code there"), ("pt_BR", "abra esta página")],
)
def test_a_link_mail_leads_to_its_page_first(locale: str, words: str) -> None:
    body = mail(locale, link_only=True)
    assert words in body
    assert body.index(LINK) < body.index("1234 5678")
    assert "The page is at" not in body
    assert "only on the page above" in body or "só funciona na página acima" in body


def test_the_demo_reads_the_code_of_a_link_mail() -> None:
    message = EmailMessage()
    message.set_content(mail("en", link_only=True))
    assert find_code(message) == "12345678"
