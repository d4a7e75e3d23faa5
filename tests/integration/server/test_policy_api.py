"""``/api/v1/policy``: a tenant's self-service policy through the API (G1, G2, G8)."""

from __future__ import annotations

import httpx

from tests.support.server import RunningServer, bearer

DEFAULT = {
    "methods": ["email"],
    "gates_required": 1,
    "questions_to_register": 3,
    "questions_to_ask": 2,
    "registration_required": False,
    "reconfirm_days": 180,
    "phone_region": None,
    "admin_contacts": [],
    "custom_questions": [],
    "scope": "all",
    "scope_group": None,
    "assignment_required": False,
    "notify_users": True,
    "notify_admins": True,
}


async def test_read_change_and_show_back(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    assert (await client.get("/api/v1/policy", headers=auth)).json() == DEFAULT
    changed = await client.patch(
        "/api/v1/policy",
        headers=auth,
        json={"methods": ["totp", "email"], "gates_required": 2},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == DEFAULT | {
        "methods": ["email", "totp"],
        "gates_required": 2,
    }
    assert (await client.get("/api/v1/policy", headers=auth)).json() == changed.json()
    # another tenant's policy is its own
    other = server.create_tenant("Other")
    assert (await client.get("/api/v1/policy", headers=bearer(other.admin_token))).json() == (
        DEFAULT
    )


async def test_an_invalid_change_is_refused_whole(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    for body, words in (
        ({"gates_required": 2}, "2 gates are required but only 1 different method(s) are allowed"),
        ({"questions_to_ask": 5}, "questions asked at a reset must be between 1 and"),
        ({"phone_region": "ZZ"}, "unknown phone region 'ZZ'"),
        ({"admin_contacts": ["it@acme.test", "desk"]}, "not email addresses: 'desk'"),
    ):
        refused = await client.patch("/api/v1/policy", headers=auth, json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "invalid_policy" and words in error["message"]
    for body in (
        {"methods": ["pigeon"]},
        {"gates_required": 3},
        {"reconfirm_days": -1},
        {"color": "red"},
        {"methods": "email"},
        {"phone_region": "BRA"},
        {"phone_region": 55},
        {"admin_contacts": "it@acme.test"},
        {"admin_contacts": ["a" * 250 + "@acme.test"]},
        {"admin_contacts": [f"a{i}@acme.test" for i in range(11)]},
        {"custom_questions": [{"en": "Too short"}]},
        {"custom_questions": [{"en": "x" * 201}]},
        {"custom_questions": [{"en": "What was your first team?", "colour": "red"}]},
        {"custom_questions": [{"pt_br": "Qual era o seu primeiro time?"}]},
        {"custom_questions": "What was your first team?"},
        {"custom_questions": [{"en": f"Question number {i}?"} for i in range(21)]},
        {"gates_required": True},
        {"registration_required": 1},
        {"notify_users": "yes"},
        {"scope": "some"},
        {"scope_group": "S" * 185},
    ):
        refused = await client.patch("/api/v1/policy", headers=auth, json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert (await client.get("/api/v1/policy", headers=auth)).json() == DEFAULT
    assert (await client.get("/api/v1/policy")).status_code == 401
