"""Writeback end to end, as an operator runs it (issue: the spine).

Real Samba AD DC, the `passback` command for everything (server with TLS,
tenants, agent onboarding, agent), the admin API for resets. Each outcome is
proven in the directory itself: by binding with the new and the old password,
or by reading pwdLastSet as an administrator.
"""

from __future__ import annotations

import json
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from passback.server.i18n import Translator, load_catalogs
from passback.server.portal.rules_text import describe_rules
from passback.server.rules import PasswordRules
from tests.support.deployment import Deployment, Tenant
from tests.support.samba import SERVICE_ACCOUNT, SambaDC, TestUser

pytestmark = pytest.mark.samba

#: Every password this module sends, for the final plaintext scan (S7).
PASSWORDS: list[str] = []


def new_password(tag: str = "") -> str:
    password = f"N3w!{tag}{uuid.uuid4().hex[:10]}"
    PASSWORDS.append(password)
    return password


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def pwd_last_set(dc: SambaDC, user: TestUser) -> int:
    return int(dc.read(user.dn, "pwdLastSet")["pwdLastSet"][0])  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deployment(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("deployment"), samba_dc)
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def tenant(deployment: Deployment) -> Tenant:
    return deployment.connected_tenant("Contoso", "agent-a")


@pytest.fixture
def user(samba_dc: SambaDC, deployment: Deployment, tenant: Tenant) -> TestUser:
    u = samba_dc.create_user()
    PASSWORDS.append(u.password)
    deployment.sync(tenant, u.name)
    return u


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    uuid.UUID(err["support_code"])  # E2: every error carries a support code
    return err


def test_onboarding_writes_a_private_config_and_its_events(
    deployment: Deployment, tenant: Tenant
) -> None:
    """L1: key pair, registration, config with mode 0600; events 31004/31018/31017/31005."""
    config = deployment.config_path("agent-a")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE((config.parent / "agent.key").stat().st_mode) == 0o600
    ids = [e["id"] for e in events(config.parent / "events.jsonl")]
    for expected in (31004, 31018, 31017, 31005):
        assert expected in ids
    assert ids.index(31004) < ids.index(31018) < ids.index(31017) < ids.index(31005)


def test_onboarding_token_is_single_use(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    done = deployment.onboard(tenant, "agent-again", samba_dc.managed_ou, check=False)
    assert done.returncode != 0
    assert "refused the onboarding token" in done.stderr
    ids = [e["id"] for e in events(deployment.config_path("agent-again").parent / "events.jsonl")]
    assert 32009 in ids


def test_admin_reset_sets_the_password(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """W3 (admin reset from the API), W1: the answer comes at once; the new
    password binds and the old one no longer does."""
    password = new_password()
    response = deployment.reset(tenant, user.name, password)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ok"
    assert samba_dc.can_bind(user.dn, password)
    assert not samba_dc.can_bind(user.dn, user.password)
    request_id = response.json()["request_id"]
    logged = [e for e in events(deployment.agents[0].events) if e["request_id"] == request_id]
    assert [e["id"] for e in logged] == [31009, 31010]


def test_admin_reset_with_must_change_at_next_logon(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """W3: "must change at next logon" goes with the reset, in the same write:
    pwdLastSet is 0 and the new password is right but must be changed."""
    password = new_password()
    response = deployment.reset(tenant, user.name, password, must_change=True)
    assert response.status_code == 200, response.text
    assert pwd_last_set(samba_dc, user) == 0
    assert not samba_dc.can_bind(user.dn, user.password)


def test_user_principal_name_finds_the_user_too(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    password = new_password()
    response = deployment.reset(tenant, f"{user.name}@{samba_dc.realm.lower()}", password)
    assert response.status_code == 200, response.text
    assert samba_dc.can_bind(user.dn, password)


def test_too_short_names_the_minimum(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """W4/W1: the directory's policy refuses, and the caller learns the minimum."""
    response = deployment.reset(tenant, user.name, new_password()[:5])
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "too_short"
    assert err["detail"]["min_length"] == 7
    assert "7" in err["message"]
    assert samba_dc.can_bind(user.dn, user.password)


def test_rules_say_a_reset_does_not_check_the_history(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """W4: Samba 4.17 has no policy-hints control and checks no history on a
    reset. The rules the agent reports say so, and the portal's rule text
    promises nothing about earlier passwords, though the policy keeps 24."""
    user = samba_dc.create_user()
    PASSWORDS.append(user.password)
    name = f"pso-{uuid.uuid4().hex[:6]}"
    samba_dc.create_pso(name, history_length=24)
    samba_dc.apply_pso(name, user)
    try:
        deployment.sync(tenant, user.name)
        with deployment.http(tenant.admin_token) as client:
            response = client.get(f"/api/v1/users/{user.name}/password-rules")
        assert response.status_code == 200, response.text
        rules = response.json()
        assert (rules["source"], rules["history_length"]) == (f"pso:{name}", 24)
        assert rules["history_on_reset"] is False
        assert rules["policy_hints"] is False
        assert rules["max_length"] == 256
        for locale, promise in (("en", "last"), ("pt_BR", "últimas")):
            translator = Translator.for_locale(load_catalogs(), locale)
            text = describe_rules(PasswordRules(**rules), translator)
            assert text and not any(promise in phrase for phrase in text), text
    finally:
        samba_dc.delete_pso(name)


def test_not_complex(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    # Long enough, but one kind of character only: small letters.
    password = "alllowercase" + "".join(c for c in uuid.uuid4().hex if c.isalpha())
    PASSWORDS.append(password)
    response = deployment.reset(tenant, user.name, password)
    assert response.status_code == 422
    assert error(response)["code"] == "not_complex"
    assert samba_dc.can_bind(user.dn, user.password)


def test_fine_grained_policy_applies_to_its_user_only(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """W4: a PSO (min length 14) applies to one user; the domain's 7 to another."""
    strict, relaxed = samba_dc.create_user(), samba_dc.create_user()
    PASSWORDS.extend([strict.password, relaxed.password])
    name = f"pso-{uuid.uuid4().hex[:6]}"
    samba_dc.create_pso(name, min_pwd_length=14)
    samba_dc.apply_pso(name, strict)
    try:
        deployment.sync(tenant, strict.name, relaxed.name)
        with deployment.http(tenant.admin_token) as client:
            strict_rules = client.get(f"/api/v1/users/{strict.name}/password-rules").json()
            relaxed_rules = client.get(f"/api/v1/users/{relaxed.name}/password-rules").json()
        assert (strict_rules["source"], strict_rules["min_length"]) == (f"pso:{name}", 14)
        assert (relaxed_rules["source"], relaxed_rules["min_length"]) == ("domain", 7)
        password = new_password()[:10]
        refused = deployment.reset(tenant, strict.name, password)
        assert refused.status_code == 422
        assert error(refused)["code"] == "too_short"
        assert error(refused)["detail"]["min_length"] == 14
        accepted = deployment.reset(tenant, relaxed.name, password)
        assert accepted.status_code == 200, accepted.text
        assert samba_dc.can_bind(relaxed.dn, password)
    finally:
        samba_dc.delete_pso(name)


def test_user_deleted_after_sync_is_not_found(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """33002: the server knows the user from sync; the directory no longer does."""
    samba_dc.delete_user(user)
    response = deployment.reset(tenant, user.name, new_password())
    assert response.status_code == 404
    assert error(response)["code"] == "user_not_found"
    assert 33002 in [e["id"] for e in events(deployment.agents[0].events)]


def test_disabled_account_is_refused_before_writing(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """33005: AD would reset a disabled account; the agent refuses first."""
    disabled = samba_dc.create_user(disabled=True)
    PASSWORDS.append(disabled.password)
    deployment.sync(tenant, disabled.name)
    before = pwd_last_set(samba_dc, disabled)
    response = deployment.reset(tenant, disabled.name, new_password())
    assert response.status_code == 409
    assert error(response)["code"] == "disabled"
    assert pwd_last_set(samba_dc, disabled) == before


def test_protected_account_is_refused(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """W5: a Domain Admins member placed in the managed OU is never written."""
    admin = samba_dc.create_user(domain_admin=True)
    PASSWORDS.append(admin.password)
    deployment.sync(tenant, admin.name)
    before = pwd_last_set(samba_dc, admin)
    response = deployment.reset(tenant, admin.name, new_password())
    assert response.status_code == 409
    assert error(response)["code"] == "protected"
    assert pwd_last_set(samba_dc, admin) == before
    assert samba_dc.can_bind(admin.dn, admin.password)


def test_the_service_account_is_not_synced_and_cannot_be_reset_by_name(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """The agent binds as an account in the managed OU: the server never hears
    of it, so the API cannot address it, and its password still binds."""
    assert user.name in deployment.usernames(tenant)  # a full sync has happened
    assert SERVICE_ACCOUNT not in deployment.usernames(tenant)
    before = int(samba_dc.read(samba_dc.service_dn, "pwdLastSet")["pwdLastSet"][0])  # type: ignore[call-overload]
    response = deployment.reset(tenant, SERVICE_ACCOUNT, new_password())
    assert response.status_code == 404
    assert error(response)["code"] == "user_not_found"
    after = int(samba_dc.read(samba_dc.service_dn, "pwdLastSet")["pwdLastSet"][0])  # type: ignore[call-overload]
    assert after == before
    assert samba_dc.can_bind(samba_dc.service_dn, samba_dc.service_password)


def test_an_admin_count_account_is_refused_by_name(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """W5: adminCount=1 (set by hand: Samba has no SDProp) is synced and refused."""
    marked = samba_dc.create_user()
    PASSWORDS.append(marked.password)
    admin = samba_dc.admin()
    assert admin.modify(marked.dn, {"adminCount": [(ldap3.MODIFY_REPLACE, ["1"])]})
    deployment.sync(tenant, marked.name)
    before = pwd_last_set(samba_dc, marked)
    response = deployment.reset(tenant, marked.name, new_password())
    assert response.status_code == 409
    body = error(response)
    assert (body["code"], body["detail"]) == ("protected", {"reason": "protected-group"})
    assert pwd_last_set(samba_dc, marked) == before
    assert samba_dc.can_bind(marked.dn, marked.password)


def test_reset_unlocks_a_locked_out_account(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    samba_dc.lock_out(user)
    password = new_password()
    response = deployment.reset(tenant, user.name, password)
    assert response.status_code == 200, response.text
    assert not samba_dc.is_locked(user)
    assert samba_dc.can_bind(user.dn, password)


def test_password_longer_than_ad_allows_is_refused(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """AD takes at most 256 UTF-16 units; Samba would take more, so we refuse 257."""
    longest = new_password("L") + "x" * 256
    response = deployment.reset(tenant, user.name, longest[:257])
    assert response.status_code == 422
    assert error(response)["code"] == "too_long"
    assert samba_dc.can_bind(user.dn, user.password)
    accepted = deployment.reset(tenant, user.name, longest[:256])
    assert accepted.status_code == 200, accepted.text
    assert samba_dc.can_bind(user.dn, longest[:256])


def test_unicode_password(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    password = new_password("Ção-密码-🔑")
    response = deployment.reset(tenant, user.name, password)
    assert response.status_code == 200, response.text
    assert samba_dc.can_bind(user.dn, password)


def test_tenant_cannot_reach_another_tenants_users_or_agents(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """A token of tenant A can never reach tenant B's users or agents."""
    ou = f"OU=Tenant B {uuid.uuid4().hex[:6]},{samba_dc.domain_dn}"
    admin = samba_dc.admin()
    assert admin.add(ou, ["top", "organizationalUnit"]), admin.result
    bob = samba_dc.create_user(ou=ou)
    PASSWORDS.append(bob.password)
    other = deployment.create_tenant("Fabrikam")
    deployment.onboard(other, "agent-b", ou)
    agent_b = deployment.start_agent("agent-b")
    try:
        deployment.wait_connected(other)
        deployment.sync(other, bob.name)
        assert bob.name not in deployment.usernames(tenant)
        response = deployment.reset(tenant, bob.name, new_password())
        assert response.status_code == 404
        assert error(response)["code"] == "user_not_found"
        with deployment.http(tenant.admin_token) as client:
            names = {a["name"] for a in client.get("/api/v1/agents").json()}
        assert "agent-b" not in names
        assert samba_dc.can_bind(bob.dn, bob.password)
    finally:
        agent_b.stop()
        assert admin.delete(bob.dn) and admin.delete(ou), admin.result


def test_wrong_relay_secret_is_refused(deployment: Deployment, tenant: Tenant) -> None:
    """S1: the relay refuses a wrong secret (4004); the agent stops and says why."""
    good = deployment.config_path("agent-a")
    bad = deployment.config_path("agent-bad-secret")
    bad.parent.mkdir(parents=True, exist_ok=True)
    text = good.read_text()
    secret_line = next(line for line in text.splitlines() if line.startswith("relay_secret"))
    text = text.replace(secret_line, 'relay_secret = "pbr_not-the-secret"')
    # The key file is relative to the config's folder: point at the good one's.
    text = text.replace('"agent.key"', f'"{good.parent / "agent.key"}"')
    bad.write_text(text)
    agent = deployment.start_agent("agent-bad-secret")
    code = agent.process.wait(30)
    assert code == 3  # refused for good: a service manager must not restart it
    assert "refused this agent (4004" in agent.log.read_text()
    refused = [e for e in events(agent.events) if e["id"] == 32002]
    assert refused and refused[-1]["close_code"] == 4004


def test_no_agent_connected_answers_at_once(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """W2: with no healthy agent, the caller learns it at once (no waiting)."""
    agent = deployment.agents[0]
    agent.stop()
    deployment.wait_disconnected(tenant)
    try:
        response = deployment.reset(tenant, user.name, new_password())
        assert response.status_code == 503
        assert error(response)["code"] == "service_unavailable"
        assert response.elapsed.total_seconds() < 5
    finally:
        deployment.agents[0] = deployment.start_agent("agent-a")
        deployment.wait_connected(tenant)
    assert samba_dc.can_bind(user.dn, user.password)


def test_agent_killed_between_write_and_reply_never_writes_twice(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    """S5/L4: the agent dies after the write, before its answer. The caller gets
    a clear "outcome unknown"; a retry with the same request id is answered
    "ok" from the agent's journal and does not write again."""
    deployment.agents[0].stop()
    deployment.wait_disconnected(tenant)
    config = str(deployment.config_path("agent-a"))
    crashing = deployment.start_agent(
        "agent-a", [sys.executable, "-m", "tests.support.crashing_agent", config]
    )
    deployment.wait_connected(tenant)
    password, request_id = new_password(), str(uuid.uuid4())
    try:
        first = deployment.reset(tenant, user.name, password, request_id=request_id)
        assert first.status_code == 504
        assert error(first)["code"] == "outcome_unknown"
        assert error(first)["request_id"] == request_id
        assert crashing.process.wait(10) != 0
        assert samba_dc.can_bind(user.dn, password)  # it was written before the crash
        written_at = pwd_last_set(samba_dc, user)
    finally:
        deployment.agents[0] = deployment.start_agent("agent-a")
        deployment.wait_connected(tenant)
    retry = deployment.reset(tenant, user.name, password, request_id=request_id)
    assert retry.status_code == 200, retry.text
    assert retry.json()["request_id"] == request_id
    assert pwd_last_set(samba_dc, user) == written_at  # not written a second time
    logged = [e for e in events(deployment.agents[0].events) if e["request_id"] == request_id]
    assert logged[-1]["id"] == 31010
    assert "after a restart" in logged[-1]["message"]
    again = deployment.reset(tenant, user.name, password, request_id=request_id)
    assert again.status_code == 200
    assert pwd_last_set(samba_dc, user) == written_at


def test_request_id_of_another_user_is_refused(
    deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, user: TestUser
) -> None:
    other = samba_dc.create_user()
    PASSWORDS.append(other.password)
    deployment.sync(tenant, other.name)
    request_id = str(uuid.uuid4())
    assert (
        deployment.reset(tenant, user.name, new_password(), request_id=request_id).status_code
        == 200
    )
    reused = deployment.reset(tenant, other.name, new_password(), request_id=request_id)
    assert reused.status_code == 409
    assert samba_dc.can_bind(other.dn, other.password)


def test_no_plaintext_password_anywhere(deployment: Deployment, tenant: Tenant) -> None:
    """S7: after everything above, no password used appears in any log, the
    database, any agent config or state file — in UTF-8 or UTF-16."""
    assert len(PASSWORDS) > 10
    leaks = []
    for path in deployment.files():
        data = path.read_bytes()
        for password in PASSWORDS:
            if password.encode() in data or password.encode("utf-16-le") in data:
                leaks.append((path.name, password[:3] + "…"))
    assert not leaks
