"""passback.server.portal.rules_text: the rules in words say only what is true (W4)."""

from __future__ import annotations

import dataclasses

import pytest

from passback.server.i18n import Translator, load_catalogs
from passback.server.portal.rules_text import describe_rules
from passback.server.rules import PasswordRules

RULES = PasswordRules("domain", 7, True, 24, 0, 0)


@pytest.fixture(scope="module")
def en() -> Translator:
    return Translator.for_locale(load_catalogs(), "en")


@pytest.fixture(scope="module")
def pt_br() -> Translator:
    return Translator.for_locale(load_catalogs(), "pt_BR")


def test_history_is_promised_where_a_reset_checks_it(en: Translator, pt_br: Translator) -> None:
    checked = dataclasses.replace(RULES, history_on_reset=True)
    assert "Not one of your last 24 passwords" in describe_rules(checked, en)
    assert "Diferente das suas últimas 24 senhas" in describe_rules(checked, pt_br)


@pytest.mark.parametrize("history_on_reset", [False, None])
def test_no_history_promise_where_a_reset_does_not_check_it(
    en: Translator, pt_br: Translator, history_on_reset: bool | None
) -> None:
    """Samba, AD without the policy-hints control, or an agent that did not say."""
    rules = dataclasses.replace(RULES, history_on_reset=history_on_reset)
    assert not any("last" in phrase for phrase in describe_rules(rules, en))
    assert not any("últimas" in phrase for phrase in describe_rules(rules, pt_br))
    assert "At least 7 characters" in describe_rules(rules, en)


def test_no_history_no_promise(en: Translator) -> None:
    rules = dataclasses.replace(RULES, history_length=0, history_on_reset=True)
    assert not any("last" in phrase for phrase in describe_rules(rules, en))


def test_common_passwords_are_mentioned_where_refused(en: Translator, pt_br: Translator) -> None:
    phrase = "Not a common or easily guessed password"
    assert describe_rules(RULES, en, common_refused=True)[-1] == phrase
    assert phrase not in describe_rules(RULES, en)
    assert describe_rules(None, en, common_refused=True)[-1] == phrase
    assert describe_rules(None, pt_br, common_refused=True)[-1] == (
        "Não pode ser uma senha comum ou fácil de adivinhar"
    )
