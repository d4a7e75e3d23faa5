"""``/api/v1/audit-events`` and ``.csv``: the audit log through the API (SPEC
E5), filtered as the console's Reports page filters it, refused with its words."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from passback.server.console import reports
from passback.server.console.roles import Role
from tests.support.console import admin_of, make_token
from tests.support.server import RunningServer, assert_error, bearer

EVENT = {"at", "activity", "result", "actor", "user", "admin", "method", "detail"}


async def some_events(client: httpx.AsyncClient, token: str) -> None:
    """Four administrator's events: two invitations, two onboarding tokens."""
    auth = bearer(token)
    for email in ("hal@acme.test", "rae@acme.test"):
        invited = await client.post(
            "/api/v1/admins", headers=auth, json={"email": email, "role": "helpdesk"}
        )
        assert invited.status_code == 201, invited.text
        made = await client.post("/api/v1/agents/onboarding-tokens", headers=auth)
        assert made.status_code == 201, made.text


def as_csv(event: dict[str, Any]) -> list[str]:
    """An event of the JSON list as the CSV export writes it."""
    detail = ", ".join(f"{k}={v}" for k, v in sorted(event["detail"].items()))
    at = event["at"].replace("+00:00", "Z")
    return [
        at[:19] + "Z",
        event["activity"],
        event["result"],
        event["actor"],
        event["user"] or "",
        event["admin"] or "",
        event["method"] or "",
        detail,
    ]


async def test_events_newest_first_and_the_csv_holds_the_same_rows(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await some_events(client, tenant.admin_token)
    auth = bearer(tenant.admin_token)
    listed = await client.get("/api/v1/audit-events", headers=auth)
    assert listed.status_code == 200, listed.text
    events = listed.json()
    assert [e["activity"] for e in events] == [
        "onboarding_token",
        "admin_invite",
        "onboarding_token",
        "admin_invite",
    ]
    assert all(set(e) == EVENT for e in events)
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    invite = events[1]
    assert invite["result"] == "success" and invite["actor"] == "admin"
    assert invite["user"] is None and invite["admin"] is None  # the tenant's token
    assert invite["detail"]["via"] == "api_token" and "invited" in invite["detail"]
    assert invite["at"].endswith(("Z", "+00:00"))

    for query in ({}, {"activity": "admin_invite"}, {"result": "failure"}):
        chosen = (await client.get("/api/v1/audit-events", headers=auth, params=query)).json()
        exported = await client.get("/api/v1/audit-events.csv", headers=auth, params=query)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in exported.headers["content-disposition"]
        header, *lines = list(csv.reader(io.StringIO(exported.text)))
        assert tuple(header) == reports.CSV_COLUMNS
        assert lines == [as_csv(e) for e in chosen], query
    assert (
        len((await client.get("/api/v1/audit-events", headers=auth, params={"limit": 3})).json())
        == 3
    )
    invitations = {"activity": "admin_invite"}
    assert (
        len((await client.get("/api/v1/audit-events", headers=auth, params=invitations)).json())
        == 2
    )
    failures = await client.get("/api/v1/audit-events", headers=auth, params={"result": "failure"})
    assert failures.json() == []


async def test_an_administrators_token_names_them_and_roles_are_kept(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    await some_events(client, await make_token(client, "ada's script"))
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await admin_of(server, browser, tenant.tenant_id, "acme", "rex@acme.test", Role.REPORTS)
        reader = bearer(await make_token(browser, "rex's report"))
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await admin_of(server, browser, tenant.tenant_id, "acme", "hal2@acme.test", Role.HELPDESK)
        helpdesk = bearer(await make_token(browser, "hal's script"))
    read = await client.get(
        "/api/v1/audit-events", headers=reader, params={"activity": "onboarding_token"}
    )
    assert read.status_code == 200, read.text
    assert [e["admin"] for e in read.json()] == ["ada@acme.test", "ada@acme.test"]
    assert (await client.get("/api/v1/audit-events.csv", headers=reader)).status_code == 200
    assert_error(await client.get("/api/v1/admins", headers=reader), 403, "forbidden")
    for path in ("/api/v1/audit-events", "/api/v1/audit-events.csv"):
        assert_error(await client.get(path, headers=helpdesk), 403, "forbidden")
        assert (await client.get(path)).status_code == 401


async def test_another_tenant_reads_none_of_its_events(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    await some_events(client, tenant.admin_token)
    other = bearer(server.create_tenant("Globex").admin_token)
    assert (await client.get("/api/v1/audit-events", headers=other)).json() == []
    exported = await client.get("/api/v1/audit-events.csv", headers=other)
    assert exported.text == ",".join(reports.CSV_COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("query", "code", "field", "message"),
    [
        ({"from": "2026-13-01"}, "invalid_date", "from", "Enter dates as YYYY-MM-DD."),
        ({"to": "0001-01-05"}, "invalid_date", "to", "Enter dates as YYYY-MM-DD."),
        (
            {"from": "2026-02-01", "to": "2026-01-01"},
            "invalid_range",
            "from",
            "The start is after the end.",
        ),
        (
            {"from": "2024-01-01", "to": "2026-01-01"},
            "range_too_long",
            "from",
            "A report covers at most 366 days.",
        ),
        (
            {"activity": "pigeon"},
            "invalid_activity",
            "activity",
            "Choose an activity from the list.",
        ),
        ({"result": "maybe"}, "invalid_result", "result", "Choose a result from the list."),
        ({"user": "jdoe\x00"}, "invalid_username", "user", "Enter a username."),
    ],
)
async def test_a_filter_the_console_refuses_is_refused_with_its_words(
    server: RunningServer,
    client: httpx.AsyncClient,
    query: dict[str, str],
    code: str,
    field: str,
    message: str,
) -> None:
    auth = bearer(server.create_tenant("Acme").admin_token)
    for path in ("/api/v1/audit-events", "/api/v1/audit-events.csv"):
        error = assert_error(await client.get(path, headers=auth, params=query), 422, code)
        assert error["message"] == message
        assert error["detail"]["field"] == field


async def test_limits_and_an_export_larger_than_the_cap(
    server: RunningServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    await some_events(client, tenant.admin_token)
    for limit, words in (
        ("0", "at least 1"),
        ("1001", "at most 1000"),
        ("many", "a whole number"),
    ):
        refused = await client.get("/api/v1/audit-events", headers=auth, params={"limit": limit})
        error = assert_error(refused, 422, "validation_failed")
        assert error["message"] == f"The request is not valid: query.limit: This must be {words}."
    assert (await client.get("/api/v1/audit-events?limit=1000", headers=auth)).status_code == 200
    for path in ("/api/v1/audit-events", "/api/v1/audit-events.csv"):
        unknown = await client.get(path, headers=auth, params={"since": "2026-01-01"})
        error = assert_error(unknown, 422, "validation_failed")
        assert (
            error["message"] == "The request is not valid: query.since: This field is not allowed."
        )
    monkeypatch.setattr(reports, "MAX_EXPORT", 3)
    error = assert_error(
        await client.get("/api/v1/audit-events.csv", headers=auth), 422, "export_too_large"
    )
    assert error["message"] == "More than 3 events match. Narrow the range or the filters."
    narrowed = await client.get(
        "/api/v1/audit-events.csv", headers=auth, params={"activity": "admin_invite"}
    )
    assert narrowed.status_code == 200 and len(narrowed.text.splitlines()) == 3
