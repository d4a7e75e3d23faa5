"""The console's Policy page against the real server (SPEC G1, G2, G8, W3, E5):
shown, changed as a whole, every problem said in the administrator's
language, re-authentication, and one audit event with before → after."""

from __future__ import annotations

import json

import httpx

from passback.server.console.roles import Role
from tests.support.console import admin_of, csrf
from tests.support.portal import rows
from tests.support.server import RunningServer

BASE = "/console/acme"


def form(page: httpx.Response, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """The policy form as the default policy fills it, with ``changes``."""
    return {
        "csrf": csrf(page),
        "methods": ["email"],
        "required": "1",
        "questions_to_register": "3",
        "questions_to_ask": "2",
        "reconfirm_days": "180",
        "phone_region": "",
        "admin_contacts": "",
        "unlock_on_reset": "1",
        **changes,
    }


async def test_a_policy_change_is_saved_and_audited(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    page = await client.get(f"{BASE}/policy")
    assert page.status_code == 200 and 'value="email" checked' in page.text
    sent = await client.post(
        f"{BASE}/policy",
        data=form(
            page,
            methods=["email", "totp", "questions", "passkey"],
            required="2",
            phone_region="br",
            admin_contacts="help@acme.test\n",
            new_en="What was the name of your first teacher?",
            new_pt_br="Qual era o nome do seu primeiro professor?",
        ),
    )
    assert sent.status_code == 303, sent.text
    shown = await client.get(f"{BASE}/policy")
    assert "The policy is saved" in shown.text
    assert 'value="totp" checked' in shown.text and 'id="required-2" name="required"' in shown.text
    assert "first teacher" in shown.text and 'value="BR"' in shown.text
    api = await client.get(
        "/api/v1/policy", headers={"Authorization": f"Bearer {tenant.admin_token}"}
    )
    assert api.json()["gates_required"] == 2
    [[detail]] = rows(
        server, "SELECT detail_json FROM audit_events WHERE activity = 'change_policy'"
    )
    changed = json.loads(json.loads(str(detail))["changed"])
    assert changed["required"] == [1, 2]
    assert changed["phone_region"] == [None, "BR"]
    assert changed["methods"][0] == ["email"]

    # Remove the custom question again; nothing else changes.
    page = await client.get(f"{BASE}/policy")
    [[custom]] = rows(server, "SELECT custom_questions FROM gate_policies")
    question = json.loads(str(custom))[0]["id"]
    await client.post(
        f"{BASE}/policy",
        data=form(
            page,
            methods=["email", "totp", "questions", "passkey"],
            required="2",
            phone_region="BR",
            admin_contacts="help@acme.test",
            custom_id=[question],
            remove=[question],
            **{"en_" + question: "What was the name of your first teacher?"},
        ),
    )
    assert "first teacher" not in (await client.get(f"{BASE}/policy")).text


async def test_every_problem_is_said_and_nothing_is_saved(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    page = await client.get(f"{BASE}/policy")
    refused = await client.post(
        f"{BASE}/policy",
        data=form(
            page,
            methods=["questions"],
            questions_to_ask="9",
            admin_contacts="not an address",
        ),
    )
    assert refused.status_code == 422
    assert "Security questions need 1 other method" in refused.text
    assert "between 1 and the number registered" in refused.text
    assert "These are not email addresses: not an address" in refused.text
    assert 'value="questions" checked' in refused.text  # what was typed stays
    assert rows(server, "SELECT count(*) FROM gate_policies") == [(0,)]
    pt = await client.post(f"{BASE}/policy?lang=pt-BR", data=form(page, required="x"))
    assert pt.status_code == 422 and "número inteiro" in pt.text
    assert rows(server, "SELECT count(*) FROM audit_events WHERE activity = 'change_policy'") == [
        (0,)
    ]


async def test_only_a_tenant_administrator_sees_the_policy(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
    assert (await client.get(f"{BASE}/policy")).status_code == 403
    assert (await client.post(f"{BASE}/policy", data={"required": "2"})).status_code == 403
    assert rows(server, "SELECT count(*) FROM gate_policies") == [(0,)]
