"""Whose wrong authenticator codes a try counts as (T1): a stranger reaches
only the account's count before any gate."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any, cast

import pytest

from passback.server.portal import flow
from passback.server.portal.codes import Hasher
from passback.server.portal.gates.base import At
from passback.server.portal.gates.totp_gate import TotpGate

HASHER = Hasher(b"k" * 32)
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def at(passed: str, device: str | None = None) -> At:
    row = flow.new_flow(
        HASHER, tenant_id="t", user_id="u", client="192.0.2.1", blocked=None, code_ttl=300, now=NOW
    ).row
    row.gates_passed = passed
    desk = cast(Any, types.SimpleNamespace(hasher=HASHER))
    return At(cast(Any, None), desk, cast(Any, None), row, NOW, device)


@pytest.mark.parametrize(
    ("passed", "device", "counted_as"),
    [
        ("", None, "u"),
        ("questions", None, "u"),  # guessable: no proof of anything held
        ("email", None, "u:after-gate"),
        ("questions,mobile_sms", None, "u:after-gate"),
        ("", HASHER.device_token("someone-else"), "u"),
        ("", "u.forged.0000", "u"),
    ],
)
def test_who_a_try_counts_as(passed: str, device: str | None, counted_as: str) -> None:
    assert TotpGate().counted_as(at(passed, device)) == counted_as


def test_the_owners_browser_counts_its_own() -> None:
    token = HASHER.device_token("u")
    nonce = token.split(".")[1]
    assert TotpGate().counted_as(at("", token)) == f"device:{nonce}"
    assert TotpGate().counted_as(at("email", token)) == f"device:{nonce}"
