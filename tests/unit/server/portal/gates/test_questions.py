"""Security questions (SPEC G2, T2, S7): normalising, what an answer may not
be, the hashes, and which questions a gate asks."""

from __future__ import annotations

import pytest

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
