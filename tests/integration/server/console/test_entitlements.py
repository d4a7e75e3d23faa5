"""Entitlements and scope in the console (SPEC E1, G6, G9): the Policy page's
scope (a group chosen by its synced name), assignment and notifications; a
user's page says whether self-service is enabled for them and why not, and
takes an assignment; a plan without writeback hides the writes and says why,
and one without cloud self-service hides an administrator's own reset."""

from __future__ import annotations

import asyncio
import json

import httpx

from passback.protocol.messages import SyncGroup
from passback.server.console.roles import Role
from tests.support.console import admin_of, csrf
from tests.support.portal import MAIL, execute, portal_tenant, rows
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

BASE = "/console/acme"
SALES = "S-1-5-21-1004336348-1177238915-682003330-1105"
STAFF = "S-1-5-21-1004336348-1177238915-682003330-1106"
GROUPS = (SyncGroup(SALES, "Sales"), SyncGroup(STAFF, "Staff"))


def policy_form(page: httpx.Response, **changes: str | list[str]) -> dict[str, str | list[str]]:
    return {
        "csrf": csrf(page),
        "scope": "all",
        "methods": ["email"],
        "required": "1",
        "questions_to_register": "3",
        "questions_to_ask": "2",
        "reconfirm_days": "180",
        "unlock_on_reset": "1",
        "notify_users": "1",
        "notify_admins": "1",
        **changes,
    }


def jdoe(server: RunningServer) -> str:
    [[found]] = rows(server, "SELECT id FROM directory_users WHERE sam_account_name = 'jdoe'")
    return str(found)


async def test_the_scope_names_a_synced_group_by_its_name(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent, groups=GROUPS, member_of=(STAFF,)) as (
        tenant,
        _agent,
    ):
        await admin_of(server, client, tenant.tenant_id, "acme")
        dashboard = await client.get(f"{BASE}/dashboard")
        assert "1 of them may use self-service" in dashboard.text
        assert "1 user · 2 groups · 0 removed" in dashboard.text  # the agent's last full sync
        page = await client.get(f"{BASE}/policy")
        assert 'id="scope-all" name="scope" value="all" checked' in page.text
        assert '<option value="Sales">' in page.text and 'list="groups"' in page.text
        unknown = await client.post(
            f"{BASE}/policy", data=policy_form(page, scope="group", scope_group="Marketing")
        )
        assert unknown.status_code == 422 and "No group of the directory has this name" in (
            unknown.text
        )
        empty = await client.post(f"{BASE}/policy", data=policy_form(page, scope="group"))
        assert empty.status_code == 422 and "needs the group" in empty.text
        saved = await client.post(
            f"{BASE}/policy",
            data=policy_form(
                page, scope="group", scope_group="sales", assignment_required="1", notify_users=""
            ),
        )
        assert saved.status_code == 303, saved.text
        shown = await client.get(f"{BASE}/policy")
        assert 'id="scope-group" name="scope" value="group" checked' in shown.text
        assert 'id="scope_group" name="scope_group" value="Sales"' in shown.text
        assert 'id="notify_users" name="notify_users" value="1">' in shown.text  # unchecked
        policy = (await client.get("/api/v1/policy", headers=bearer(tenant.admin_token))).json()
        assert (policy["scope"], policy["scope_group"]) == ("group", SALES)
        assert policy["assignment_required"] is True and policy["notify_users"] is False
        [[detail]] = rows(
            server, "SELECT detail_json FROM audit_events WHERE activity = 'change_policy'"
        )
        changed = json.loads(json.loads(str(detail))["changed"])
        assert changed["scope"] == ["all", "group"] and changed["scope_group"] == [None, SALES]

        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert "not a member of Sales, the group the policy enables it for" in person.text
        dashboard = await client.get(f"{BASE}/dashboard")
        assert "0 of them may use self-service" in dashboard.text
        execute(server, f"UPDATE directory_users SET group_sids = ' {SALES} ', assigned = 1")
        dashboard = await client.get(f"{BASE}/dashboard")
        assert "1 of them may use self-service" in dashboard.text


async def test_a_users_page_takes_an_assignment(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await client.patch(
            "/api/v1/policy", headers=bearer(tenant.admin_token), json={"assignment_required": True}
        )
        await admin_of(server, client, tenant.tenant_id, "acme")
        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert "the policy requires an assignment, and the user has none" in person.text
        assigned = await client.post(
            f"{BASE}/people/{jdoe(server)}/assignment", data={"csrf": csrf(person), "assigned": "1"}
        )
        assert assigned.status_code == 303
        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert "Self-service is assigned to the user." in person.text
        assert "Enabled for this user." in person.text and "Remove the assignment" in person.text
        removed = await client.post(
            f"{BASE}/people/{jdoe(server)}/assignment", data={"csrf": csrf(person)}
        )
        assert removed.status_code == 303
        assert [a for (a,) in rows(server, "SELECT activity FROM audit_events")][-2:] == [
            "assign",
            "unassign",
        ]


async def test_a_helpdesk_administrator_cannot_assign(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await admin_of(server, client, tenant.tenant_id, "acme", role=Role.HELPDESK)
        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert "Assign self-service" not in person.text
        refused = await client.post(
            f"{BASE}/people/{jdoe(server)}/assignment", data={"csrf": csrf(person), "assigned": "1"}
        )
        assert refused.status_code == 403
        assert rows(server, "SELECT assigned FROM directory_users") == [(False,)]


async def test_a_plan_without_writeback_hides_the_writes_and_says_why(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    async with portal_tenant(server, client, make_agent) as (tenant, agent):
        execute(server, f"UPDATE tenants SET plan = 'basic' WHERE id = '{tenant.tenant_id}'")
        await admin_of(server, client, tenant.tenant_id, "acme")
        person = await client.get(f"{BASE}/people/{jdoe(server)}")
        assert "plan (basic) does not include password writeback" in person.text
        assert "Reset the password" not in person.text and "/unlock" not in person.text
        unlock = await client.post(
            f"{BASE}/people/{jdoe(server)}/unlock", data={"csrf": csrf(person)}
        )
        assert unlock.status_code == 303
        shown = await client.get(unlock.headers["location"])
        assert "cannot be changed in the directory from here" in shown.text
        assert [o.metadata.operation.value for o in agent.opened] in ([], ["status"])
        policy = await client.get(f"{BASE}/policy")
        assert 'id="plan-notice"' in policy.text


async def test_a_free_plan_has_no_own_reset_for_administrators(
    server: RunningServer, client: httpx.AsyncClient, mail: MailCatcher
) -> None:
    tenant = server.create_tenant("Acme")
    execute(server, f"UPDATE tenants SET plan = 'free' WHERE id = '{tenant.tenant_id}'")
    signin = await client.get(f"{BASE}/signin")
    assert signin.status_code == 200 and "/forgot" not in signin.text
    page = await client.get(f"{BASE}/forgot")
    assert page.status_code == 403 and "does not include resetting a console password" in (
        page.text
    )


async def test_no_notice_mails_when_the_policy_turns_them_off(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G9 off: an administrator's unlock mails the user nothing."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await client.patch(
            "/api/v1/policy", headers=bearer(tenant.admin_token), json={"notify_users": False}
        )
        unlocked = await client.post(
            "/api/v1/users/jdoe/unlock", headers=bearer(tenant.admin_token)
        )
        assert unlocked.status_code == 200, unlocked.text
        await asyncio.sleep(0.3)
        assert mail.to(MAIL) == []


async def test_a_group_is_found_by_its_name_in_any_script_and_kept_once_chosen(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    tech = "S-1-5-21-1004336348-1177238915-682003330-1201"
    twins = ("S-1-5-21-1004336348-1177238915-682003330-1202", "S-1-5-21-1-2-3-1203")
    groups = (
        SyncGroup(tech, "Área Técnica"),
        *(SyncGroup(sid, "Finanças") for sid in twins),
    )
    async with portal_tenant(server, client, make_agent, groups=groups) as (tenant, _agent):
        await admin_of(server, client, tenant.tenant_id, "acme")
        page = await client.get(f"{BASE}/policy")
        twin = await client.post(
            f"{BASE}/policy", data=policy_form(page, scope="group", scope_group="finanças")
        )
        assert twin.status_code == 422 and "Several groups of the directory" in twin.text
        chosen = await client.post(
            f"{BASE}/policy", data=policy_form(page, scope="group", scope_group="ÁREA TÉCNICA")
        )
        assert chosen.status_code == 303, chosen.text
        # The group leaves the directory: the form still saves with it shown.
        execute(server, "DELETE FROM directory_groups")
        page = await client.get(f"{BASE}/policy")
        assert f'name="scope_group" value="{tech}"' in page.text
        again = await client.post(
            f"{BASE}/policy", data=policy_form(page, scope="group", scope_group=tech)
        )
        assert again.status_code == 303, again.text
