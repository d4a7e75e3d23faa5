"""passback.policy.banned: common and easily guessed passwords."""

from __future__ import annotations

import pytest

from passback.policy.banned import (
    SEASONS_AND_MONTHS,
    BannedReason,
    check_banned,
    common_passwords,
    normalise,
    tenant_words,
)

CONTOSO = tenant_words("Contoso", "contoso")


@pytest.mark.parametrize(
    "password",
    [
        "Summer2026!",  # a season and a year: the directory's complexity takes it
        "P@ssw0rd1",
        "Passw0rd!",
        "Welcome1!",
        "Qwerty123!",
        "!!Letmein",  # symbols in front
        "@dmin2026",  # a leading "@" for an "a"
        "Autumn2025#",  # a season the leaked list does not hold
        "Verão2026!",  # accents folded
        "Ｐａｓｓｗｏｒｄ1",  # fullwidth forms folded
        "iloveyou",
    ],
)
def test_common_passwords_are_refused(password: str) -> None:
    assert check_banned(password, CONTOSO) is BannedReason.COMMON


@pytest.mark.parametrize(
    "password",
    ["Contoso2026!", "C0nt0s0-rocks-42", "my-CONTOSO-badge", "Fabr1kam!Q9x"],
)
def test_banned_words_are_refused(password: str) -> None:
    words = tenant_words("Contoso", "contoso", ["Fabrikam"])
    assert check_banned(password, words) is BannedReason.BANNED_WORD


@pytest.mark.parametrize(
    "password",
    [
        "correct-horse-battery-staple-92",
        "Tr0ub4dor&3-Horse",
        "Xy#84730219!!",  # its letters alone would be in the list by chance
        "Maybe-not-so-easy-7",
    ],
)
def test_hard_passwords_pass(password: str) -> None:
    assert check_banned(password, CONTOSO) is None


def test_short_banned_words_are_left_out() -> None:
    assert check_banned("Xy#84730219!!", ["xy", " ", ""]) is None
    assert check_banned("Zq#8473ibm0219", ["IBM"]) is BannedReason.BANNED_WORD


def test_banned_words_are_normalised() -> None:
    assert check_banned("Zq#8473-contoso", ["C0NT0SO"]) is BannedReason.BANNED_WORD


def test_tenant_words() -> None:
    assert tenant_words("Acme Corp SA", "acme-corp", [" Roadrunner ", ""]) == [
        "AcmeCorpSA",
        "Acme",
        "Corp",
        "acme",
        "corp",
        "Roadrunner",
    ]
    assert tenant_words("Contoso", "contoso") == ["Contoso", "contoso"]


def test_normalise() -> None:
    assert normalise("ＰＡＳＳ") == "pass"
    assert normalise("Março") == "marco"
    assert normalise("Straße") == "strasse"


def test_the_list_is_read_once() -> None:
    assert common_passwords() is common_passwords()
    assert len(common_passwords()) > 30_000
    assert {"password", "123456", "p@ssw0rd"} | SEASONS_AND_MONTHS <= common_passwords()
