"""What the portal tells users (issue "gates", mend list): never about the
agent, and the same "unavailable" words on every step."""

from __future__ import annotations

from pathlib import Path

import pytest

from passback.protocol.outcomes import Outcome
from passback.server.i18n import Translator, load_catalogs
from passback.server.portal.errors import PortalError
from passback.server.portal.service import UNAVAILABLE

TEMPLATES = Path(__file__).resolve().parents[4] / "src/passback/server/portal/templates"


@pytest.mark.parametrize("locale", ["en", "pt_BR"])
@pytest.mark.parametrize("outcome", list(Outcome))
def test_no_outcome_speaks_of_the_agent_to_a_user(outcome: Outcome, locale: str) -> None:
    t = Translator.for_locale(load_catalogs(), locale)
    error = PortalError.of_outcome(outcome, {}, request_id="r", support_code="s", user_id="u")
    text = error.text(t).lower()
    assert "agent" not in text and "agente" not in text, (outcome, text)


def test_the_password_step_says_unavailable_as_the_start_page_does() -> None:
    t = Translator.for_locale(load_catalogs(), "en")
    error = PortalError.of_outcome(
        Outcome.SERVICE_UNAVAILABLE, {}, request_id="r", support_code="s", user_id="u"
    )
    assert error.text(t) == t.gettext(UNAVAILABLE)


def test_no_page_speaks_of_the_agent() -> None:
    templates = list(TEMPLATES.glob("*.html"))
    assert len(templates) > 10
    for template in templates:
        assert "agent" not in template.read_text().lower(), template.name
