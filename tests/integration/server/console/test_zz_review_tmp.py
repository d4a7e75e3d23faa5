from __future__ import annotations

import re
import statistics
import time

import httpx

from passback.server.console.roles import Role
from passback.server.console.sessions import MAX_CODE_ATTEMPTS
from tests.support.console import ADMIN_PASSWORD, admin_of, csrf, set_up
from tests.support.portal import rows
from tests.support.server import RunningServer, bearer

BASE = "/console/acme"
TOKEN = re.compile(r'<code class="secret">(pba_[^<]+)</code>')
LINK = re.compile(r"(/console/acme/setup/[A-Za-z0-9_-]+)")


async def _five_wrong(server: RunningServer, email: str) -> tuple[str, int]:
    async with httpx.AsyncClient(base_url=server.base_url) as b:
        await b.post(f"{BASE}/forgot", data={"email": email})
        for _ in range(MAX_CODE_ATTEMPTS):
            last = await b.post(f"{BASE}/forgot/code", data={"code": "00000000", "app_code": "000000"})
        shown = await b.get(last.headers["location"])
        return last.headers["location"], shown.status_code


async def test_review_enumeration(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    print("KNOWN", await _five_wrong(server, ada.email))
    print("UNKNOWN", await _five_wrong(server, "nobody@acme.test"))


async def test_review_code_counter_dos(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    ada = await admin_of(server, client, tenant.tenant_id, "acme")
    await _five_wrong(server, ada.email)
    await _five_wrong(server, ada.email)
    async with httpx.AsyncClient(base_url=server.base_url) as fresh:
        first = await fresh.post(f"{BASE}/signin", data={"email": ada.email, "password": ADMIN_PASSWORD})
        r = await fresh.post(f"{BASE}/signin/code", data={"code": ada.code()})
        shown = await fresh.get(r.headers["location"])
        print("ADA SIGN-IN AFTER STRANGER:", first.headers["location"], r.headers["location"], shown.status_code,
              "Too many wrong codes for this administrator" in shown.text)


async def test_review_timing(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    known = []
    for i in range(3):
        async with httpx.AsyncClient(base_url=server.base_url) as b:
            await admin_of(server, b, tenant.tenant_id, "acme", f"a{i}@acme.test")
    k, u = [], []
    for _ in range(3):
        for i in range(3):
            async with httpx.AsyncClient(base_url=server.base_url) as b:
                t0 = time.perf_counter(); await b.post(f"{BASE}/forgot", data={"email": f"a{i}@acme.test"}); k.append(time.perf_counter() - t0)
                t0 = time.perf_counter(); await b.post(f"{BASE}/forgot", data={"email": f"z{i}@acme.test"}); u.append(time.perf_counter() - t0)
    print("TIMING known ms", [round(x * 1000, 2) for x in k], "median", round(statistics.median(k) * 1000, 2))
    print("TIMING unknown ms", [round(x * 1000, 2) for x in u], "median", round(statistics.median(u) * 1000, 2))


async def test_review_token_revives(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    async with httpx.AsyncClient(base_url=server.base_url) as hal_browser:
        hal = await admin_of(server, hal_browser, tenant.tenant_id, "acme", "hal@acme.test", Role.HELPDESK)
        page = await hal_browser.get(f"{BASE}/tokens")
        made = await hal_browser.post(f"{BASE}/tokens", data={"name": "x", "csrf": csrf(page)})
        token = TOKEN.search(made.text).group(1)
        [[hal_id]] = rows(server, "SELECT id FROM admins WHERE email = 'hal@acme.test'")
        page = await client.get(f"{BASE}/admins")
        made = await client.post(f"{BASE}/admins/{hal_id}/setup-link", data={"csrf": csrf(page)})
        link = LINK.search(made.text).group(1)
        print("TOKEN while pending", (await client.get("/api/v1/users", headers=bearer(token))).status_code)
        async with httpx.AsyncClient(base_url=server.base_url) as new_browser:
            await set_up(new_browser, "acme", link.rsplit("/", 1)[1], hal.email)
        print("TOKEN after new set-up", (await client.get("/api/v1/users", headers=bearer(token))).status_code)


async def test_review_self_setup_link(server: RunningServer, client: httpx.AsyncClient) -> None:
    tenant = server.create_tenant("Acme")
    await admin_of(server, client, tenant.tenant_id, "acme")
    [[ada_id]] = rows(server, "SELECT id FROM admins WHERE email = 'ada@acme.test'")
    page = await client.get(f"{BASE}/admins")
    made = await client.post(f"{BASE}/admins/{ada_id}/setup-link", data={"csrf": csrf(page)})
    print("SELF SETUP-LINK", made.status_code, bool(LINK.search(made.text)),
          rows(server, "SELECT count(*) FROM admins WHERE activated_at IS NOT NULL"))
