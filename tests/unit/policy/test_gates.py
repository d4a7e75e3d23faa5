"""Which gates a user must pass, and what is missing (SPEC G1, G2, G6, G7)."""

from __future__ import annotations

import dataclasses

import pytest

from passback.policy.gates import (
    ADMIN_POLICY,
    MAX_ADMIN_CONTACTS,
    CustomQuestion,
    GatePolicy,
    Method,
    Scope,
    Shortfall,
    choices,
    is_address,
    is_sid,
    satisfied,
    shortfall,
    usable,
)

TWO = GatePolicy(methods=frozenset({Method.EMAIL, Method.TOTP, Method.QUESTIONS}), required=2)


def test_the_default_is_one_email_gate() -> None:
    policy = GatePolicy()
    assert policy.problems() == []
    assert usable(policy, {Method.EMAIL, Method.TOTP}) == [Method.EMAIL]
    assert satisfied(policy, [Method.EMAIL])
    assert not satisfied(policy, [Method.TOTP])  # passed, but not allowed


def test_two_gates_of_different_methods() -> None:
    on_file = {Method.TOTP, Method.EMAIL}
    assert choices(TWO, on_file, []) == [Method.EMAIL, Method.TOTP]
    assert choices(TWO, on_file, [Method.TOTP]) == [Method.EMAIL]
    assert not satisfied(TWO, [Method.TOTP, Method.TOTP])  # one method counts once
    assert satisfied(TWO, [Method.TOTP, Method.EMAIL])


def test_shortfall_says_what_is_missing() -> None:
    """G6: "two methods are required, only one is on file", and which to add."""
    assert shortfall(TWO, {Method.EMAIL, Method.TOTP}) is None
    assert shortfall(TWO, {Method.EMAIL, Method.MOBILE_SMS}) == Shortfall(
        required=2, usable=1, could_register=(Method.QUESTIONS, Method.TOTP)
    )
    assert shortfall(GatePolicy(), set()) == Shortfall(1, 0, (Method.EMAIL,))


def test_administrators_always_need_two_gates_and_never_questions() -> None:
    """G7."""
    assert ADMIN_POLICY.required == 2
    assert Method.QUESTIONS not in ADMIN_POLICY.methods
    assert ADMIN_POLICY.problems() == []


def test_phone_methods() -> None:
    assert [m for m in Method if m.phone] == [
        Method.MOBILE_SMS,
        Method.MOBILE_VOICE,
        Method.OFFICE_VOICE,
    ]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"required": 0}, "gates required must be 1 or 2"),
        ({"required": 3}, "gates required must be 1 or 2"),
        ({"required": 2}, "2 gates are required but only 1 different method(s) are allowed"),
        (
            {"methods": frozenset({Method.QUESTIONS})},
            "security questions need 1 other method(s) allowed beside them",
        ),
        (
            {"methods": frozenset({Method.QUESTIONS, Method.EMAIL}), "required": 2},
            "security questions need 2 other method(s) allowed beside them",
        ),
        ({"questions_to_register": 0}, "questions to register must be between 1 and 20"),
        ({"questions_to_register": 21}, "questions to register must be between 1 and 20"),
        ({"questions_to_ask": 4}, "questions asked at a reset must be between 1 and"),
        ({"questions_to_ask": 0}, "questions asked at a reset must be between 1 and"),
        ({"reconfirm_days": -1}, "re-confirmation days must be between 0 and 3650"),
        ({"reconfirm_days": 3651}, "re-confirmation days must be between 0 and 3650"),
    ],
)
def test_policy_problems(changes: dict[str, int], problem: str) -> None:
    found = dataclasses.replace(GatePolicy(), **changes).problems()
    assert len(found) >= 1 and found[0].startswith(problem), found


def test_every_problem_has_a_stable_code_and_its_values() -> None:
    """Pages say a problem in the user's language by its code (and values)."""
    wrong = GatePolicy(
        methods=frozenset({Method.QUESTIONS}),
        questions_to_register=21,
        questions_to_ask=0,
        reconfirm_days=-1,
        phone_region="x",
        admin_contacts=("no", *(f"a{n}@b.test" for n in range(10))),
        custom_questions=(
            CustomQuestion("custom-zz", "short"),
            *(CustomQuestion(f"custom-{n:08x}", "What was your first car?") for n in range(21)),
        ),
    )
    codes = {p.code for p in wrong.problems()}
    assert codes == {
        "questions_need_others",
        "questions_to_register",
        "questions_to_ask",
        "reconfirm_days",
        "phone_region",
        "too_many_contacts",
        "contact_not_address",
        "too_many_custom",
        "custom_id",
        "custom_text",
        "custom_duplicate",
    }
    by_code = {p.code: p for p in wrong.problems()}
    assert by_code["contact_not_address"].values == {"wrong": "no"}
    assert by_code["questions_to_register"].values == {"max": 20}
    assert {p.code for p in GatePolicy(required=3).problems()} == {"gates"}
    assert {p.code for p in GatePolicy(required=2).problems()} == {"too_few_methods"}


@pytest.mark.parametrize("region", ["br", "B", "BRA", "1A", "ÇA"])
def test_a_phone_region_is_two_capital_letters(region: str) -> None:
    assert any("phone region" in p for p in GatePolicy(phone_region=region).problems())
    assert GatePolicy(phone_region="BR").problems() == []


@pytest.mark.parametrize(
    "address",
    [
        "",
        "a",
        "@b.c",
        "a@",
        "a@b",
        "a@.",
        "a b@c.d",
        "a@b@c.d",
        "a@b.c\n",
        "a,b@c.d",
        "a@" + "b" * 260 + ".c",
    ],
)
def test_an_admin_contact_must_be_an_address(address: str) -> None:
    assert not is_address(address)
    assert any("not email addresses" in p for p in GatePolicy(admin_contacts=(address,)).problems())


def test_admin_contacts_are_bounded() -> None:
    assert is_address("help.desk@example.test")
    many = tuple(f"a{i}@example.test" for i in range(MAX_ADMIN_CONTACTS + 1))
    assert GatePolicy(admin_contacts=many[:-1]).problems() == []
    assert any("at most" in p for p in GatePolicy(admin_contacts=many).problems())


def test_custom_questions_are_checked() -> None:
    good = CustomQuestion("custom-0a1b2c3d", "What was your first team's name?", "Qual era o time?")
    assert GatePolicy(custom_questions=(good,)).problems() == []
    assert (
        GatePolicy(
            custom_questions=(CustomQuestion("custom-0a1b2c3e", "Only English here?"),)
        ).problems()
        == []
    )
    for wrong, words in (
        (CustomQuestion("c-1", "What was your first team's name?"), "is not custom-<8 hex"),
        (CustomQuestion("custom-0A1B2C3D", "What was your first team's name?"), "is not custom-"),
        (CustomQuestion("custom-0a1b2c3d", "Short?"), "10 to 200"),
        (CustomQuestion("custom-0a1b2c3d", "x" * 201), "10 to 200"),
        (CustomQuestion("custom-0a1b2c3d", "Two\nlines are not allowed?"), "10 to 200"),
        (
            CustomQuestion("custom-0a1b2c3d", "What was your first team's name?", "Curta?"),
            "10 to 200",
        ),
    ):
        assert any(words in p for p in GatePolicy(custom_questions=(wrong,)).problems()), wrong
    twice = (good, dataclasses.replace(good, id="custom-11111111", en=good.en.upper()))
    assert "each custom question must be different" in GatePolicy(custom_questions=twice).problems()
    many = tuple(CustomQuestion(f"custom-{i:08x}", f"Question number {i}?") for i in range(21))
    assert any("at most 20" in p for p in GatePolicy(custom_questions=many).problems())


def test_a_text_and_a_call_to_one_mobile_phone_are_one_gate() -> None:
    """Two gates mean two things the user has: one SIM passes one of them."""
    policy = GatePolicy(
        methods=frozenset({Method.EMAIL, Method.MOBILE_SMS, Method.MOBILE_VOICE}), required=2
    )
    assert policy.problems() == []
    phone = {Method.MOBILE_SMS, Method.MOBILE_VOICE}
    assert choices(policy, phone, [Method.MOBILE_SMS]) == []
    assert not satisfied(policy, [Method.MOBILE_SMS, Method.MOBILE_VOICE])
    assert satisfied(policy, [Method.MOBILE_SMS, Method.EMAIL])
    assert shortfall(policy, phone) == Shortfall(2, 1, (Method.EMAIL,))
    assert choices(policy, {*phone, Method.EMAIL}, [Method.MOBILE_VOICE]) == [Method.EMAIL]
    only_phone = GatePolicy(methods=frozenset(phone), required=2)
    assert any("different method(s)" in p for p in only_phone.problems())
    with_questions = GatePolicy(methods=frozenset({*phone, Method.QUESTIONS}), required=2)
    assert any("security questions need" in p for p in with_questions.problems())


SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"


def test_scope_all_none_and_a_group() -> None:
    """G6: everyone, no one, or the members of one group (nested membership
    is the caller's: the groups passed in include every enclosing group)."""
    assert GatePolicy().in_scope(set())
    assert not GatePolicy(scope=Scope.NONE).in_scope({SALES})
    group = GatePolicy(scope=Scope.GROUP, scope_group=SALES)
    assert group.in_scope({"S-1-5-32-545", SALES})
    assert not group.in_scope({"S-1-5-32-545"})
    assert not GatePolicy(scope=Scope.GROUP).in_scope({SALES})


@pytest.mark.parametrize("group", [None, "", "Sales", "S-1-", "S-1-5-", "s-1-5-21", "S-1-5-x"])
def test_a_group_scope_needs_a_group_sid(group: str | None) -> None:
    problems = GatePolicy(scope=Scope.GROUP, scope_group=group).problems()
    assert [p.code for p in problems] == ["scope_group"]


def test_a_scope_group_is_kept_for_other_scopes_and_is_a_sid_whenever_given() -> None:
    assert GatePolicy(scope=Scope.ALL, scope_group=SALES).problems() == []
    assert [p.code for p in GatePolicy(scope=Scope.ALL, scope_group="x").problems()] == [
        "scope_group"
    ]


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        (SALES, True),
        ("S-1-5-32-544", True),
        ("S-1-0", True),
        ("S-1-" + "-".join(["4294967295"] * 15), True),
        ("S-1-" + "-".join(["1"] * 16), False),
        ("S-1-" + "1" * 16, False),
        ("xS-1-5", False),
        ("S-1-5 ", False),
        ("S-1-５", False),
        ("S-1-" + "-".join(["4294967295"] * 17), False),
    ],
)
def test_is_sid(text: str, valid: bool) -> None:
    assert is_sid(text) is valid
