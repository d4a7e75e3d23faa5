"""Security questions (SPEC G2, T2, S7): normalising, what an answer may not
be, the hashes, and which questions a gate asks."""

from __future__ import annotations

import pytest

from passback.policy.gates import CustomQuestion
from passback.server.i18n import Translator, load_catalogs
from passback.server.portal.gates import questions


def test_at_least_twenty_predefined_questions() -> None:
    assert len(questions.QUESTIONS) >= 20


def test_answers_compare_without_case_spacing_or_compatibility_forms() -> None:
    stored = questions.hash_answer("  Rex   the DOG ")
    assert stored.startswith("$argon2id$")
    assert questions.answer_matches(stored, "rex the dog")
    assert questions.answer_matches(stored, "ＲＥＸ　ｔｈｅ　ｄｏｇ")  # full-width: NFKC
    assert not questions.answer_matches(stored, "rex the cat")
    assert not questions.answer_matches("not a hash", "rex the dog")
    assert not questions.answer_matches(None, "anything")  # nothing on file: never


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("ab", "at least 3 characters"),
        ("   a   ", "at least 3 characters"),
        ("x" * 201, "at most 200 characters"),
        ("Rex\u200fthe dog", "only letters, digits"),  # a right-to-left mark
        ("nul\0byte", "only letters, digits"),
        ("my name is JDoe", "may not contain your username"),
        ("Rex", "its own answer"),
    ],
)
def test_answers_that_cannot_be_registered(answer: str, problem: str) -> None:
    found = questions.answer_problem(answer, username="jdoe", others=["rex"])
    assert found is not None and problem in found


def test_a_good_answer_and_emoji() -> None:
    assert questions.answer_problem("Rua das Flores 🌸", username="jdoe", others=[]) is None


def test_the_questions_asked_depend_on_the_username_alone() -> None:
    keys = list(questions.QUESTIONS)
    first = questions.asked("who-a", keys, 2)
    assert questions.asked("who-a", list(reversed(keys)), 2) == first  # order does not matter
    assert len(set(first)) == 2 and set(first) <= set(keys)
    assert any(questions.asked(f"who-{n}", keys, 2) != first for n in range(10))


def test_a_tenants_own_questions_join_the_pool_in_both_languages() -> None:
    own = (
        CustomQuestion("custom-0a1b2c3d", "What was your first team?", "Qual era o seu time?"),
        CustomQuestion("custom-11111111", "Which street was your school on?"),
    )
    keys = questions.pool(own)
    assert keys[: len(questions.QUESTIONS)] == list(questions.QUESTIONS)
    assert keys[-2:] == ["custom-0a1b2c3d", "custom-11111111"]
    catalogs = load_catalogs()
    en, pt = Translator.for_locale(catalogs, "en"), Translator.for_locale(catalogs, "pt_BR")
    assert questions.text_of("custom-0a1b2c3d", en, own) == "What was your first team?"
    assert questions.text_of("custom-0a1b2c3d", pt, own) == "Qual era o seu time?"
    assert questions.text_of("custom-11111111", pt, own) == "Which street was your school on?"
    assert questions.text_of("first_pet", pt, own) == pt.gettext(questions.QUESTIONS["first_pet"])
    assert questions.text_of("custom-99999999", en, own) == "custom-99999999"  # since removed
