"""The "My account" session: lifetime, the sealed password of a forced
change, and the change attempts (SPEC U4, W3, S7)."""

from __future__ import annotations

import datetime as dt

import pytest

from passback.server.portal import account_session as sessions
from passback.server.portal.codes import flow_hash

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def test_a_session_keeps_only_the_hash_of_its_token() -> None:
    new = sessions.new_session(
        tenant_id="t",
        user_id="u",
        state=sessions.State.SIGNED_IN,
        account={},
        password=None,
        now=NOW,
    )
    assert new.row.id_hash == flow_hash(new.token)
    assert new.token not in repr(new)
    assert new.row.sealed_password is None
    assert new.row.expires_at == NOW + sessions.MAX_AGE


def test_the_forced_change_keeps_the_password_sealed_under_the_token() -> None:
    password = "Zq-Forced!1é"
    new = sessions.new_session(
        tenant_id="t",
        user_id="u",
        state=sessions.State.MUST_CHANGE,
        account={"password_set_at": 0},
        password=password,
        now=NOW,
    )
    sealed = new.row.sealed_password
    assert sealed is not None
    assert password.encode() not in sealed and password.encode("utf-16-le") not in sealed
    assert sessions.unseal(new.token, new.row) == password
    assert sessions.unseal("another-token", new.row) is None
    new.row.id_hash = "0" * 64  # the sealed value is bound to its session
    assert sessions.unseal(new.token, new.row) is None
    assert new.row.expires_at == NOW + sessions.CHANGE_WINDOW


def test_a_session_dies_when_idle_or_at_its_end() -> None:
    row = sessions.new_session(
        tenant_id="t",
        user_id="u",
        state=sessions.State.SIGNED_IN,
        account={},
        password=None,
        now=NOW,
    ).row
    later = NOW + sessions.IDLE_TIMEOUT - dt.timedelta(seconds=1)
    assert sessions.require(row, later) is row
    assert row.last_seen_at == later  # seen: the idle timeout starts again
    with pytest.raises(sessions.SessionRefused):
        sessions.require(row, later + sessions.IDLE_TIMEOUT)
    row.last_seen_at = NOW + sessions.MAX_AGE - dt.timedelta(minutes=1)
    with pytest.raises(sessions.SessionRefused):
        sessions.require(row, NOW + sessions.MAX_AGE)
    with pytest.raises(sessions.SessionRefused):
        sessions.require(None, NOW)


def test_a_successful_change_signs_in_and_forgets_the_password() -> None:
    new = sessions.new_session(
        tenant_id="t",
        user_id="u",
        state=sessions.State.PASSWORD_EXPIRED,
        account={},
        password="Zq-Old!1",
        now=NOW,
    )
    new.row.change_attempts = 2
    sessions.signed_in(new.row, {"password_set_at": 5}, NOW)
    assert new.row.state == "signed_in" and new.row.sealed_password is None
    assert new.row.change_attempts == 0
    assert sessions.account_of(new.row) == {"password_set_at": 5}
    assert new.row.expires_at == NOW + sessions.MAX_AGE
    new.row.account_json = "not json"
    assert sessions.account_of(new.row) == {}
