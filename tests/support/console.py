"""Helpers of the console's integration tests: administrators invited
straight into the store, the set-up and sign-in steps, and codes of an
authenticator app at chosen time steps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time

import httpx
import pyotp
import sqlalchemy as sa

from passback.server.console import admins
from passback.server.console.roles import Role
from passback.server.store import create_engine, session_factory
from passback.server.store.models import utcnow
from tests.support.server import RunningServer

ADMIN_PASSWORD = "Console-Adm1n-Pa55-7c41"
SECRET = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r'<code class="secret">(pba_[^<]+)</code>')


@dataclasses.dataclass
class ConsoleAdmin:
    email: str
    secret: str
    #: Time-step offsets already used: a code is taken once only.
    offsets: list[int] = dataclasses.field(default_factory=lambda: [-1, 0, 1])

    def code(self) -> str:
        """A right code of a step not taken yet (within the accepted drift)."""
        offset = self.offsets.pop(0)
        return pyotp.TOTP(self.secret).at(time.time() + 30 * offset)


def invite(
    server: RunningServer, tenant_id: str, email: str, role: Role = Role.TENANT_ADMIN
) -> str:
    """A set-up token, as ``passback tenant admin-link`` makes it."""
    engine = create_engine(server.database_url)
    try:
        with session_factory(engine)() as db, db.begin():
            return admins.invite(
                db,
                tenant_id,
                email=email,
                name=email.partition("@")[0].title(),
                role=role,
                invited_by=None,
                master=server.master_key,
                now=utcnow(),
            ).token
    finally:
        engine.dispose()


async def set_up(client: httpx.AsyncClient, slug: str, token: str, email: str) -> ConsoleAdmin:
    page = await client.get(f"/console/{slug}/setup/{token}")
    found = SECRET.search(page.text)
    assert found, page.text
    admin = ConsoleAdmin(email, found.group(1))
    done = await client.post(
        f"/console/{slug}/setup/{token}",
        data={"password": ADMIN_PASSWORD, "confirm": ADMIN_PASSWORD, "code": admin.code()},
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/console/{slug}/signin")
    return admin


async def sign_in(client: httpx.AsyncClient, slug: str, admin: ConsoleAdmin) -> httpx.Response:
    """Both gates; the answer to the code (303 to the role's first section)."""
    first = await client.post(
        f"/console/{slug}/signin", data={"email": admin.email, "password": ADMIN_PASSWORD}
    )
    assert (first.status_code, first.headers["location"]) == (
        303,
        f"/console/{slug}/signin/code",
    ), first.text
    return await client.post(f"/console/{slug}/signin/code", data={"code": admin.code()})


async def admin_of(
    server: RunningServer,
    client: httpx.AsyncClient,
    tenant_id: str,
    slug: str,
    email: str = "ada@acme.test",
    role: Role = Role.TENANT_ADMIN,
) -> ConsoleAdmin:
    """An administrator set up and signed in on ``client``."""
    admin = await set_up(client, slug, invite(server, tenant_id, email, role), email)
    signed = await sign_in(client, slug, admin)
    assert signed.status_code == 303, signed.text
    return admin


def age_second_factor(server: RunningServer) -> None:
    """Every session's second factor older than the 5 minutes of a fresh one."""
    engine = sa.create_engine(server.database_url)
    with engine.begin() as db:
        db.execute(
            sa.text("UPDATE admin_sessions SET verified_at = :then"),
            {"then": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)).replace(tzinfo=None)},
        )
    engine.dispose()


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def make_token(client: httpx.AsyncClient, name: str, slug: str = "acme") -> str:
    """An API token of the administrator signed in on ``client``, made in the console."""
    page = await client.get(f"/console/{slug}/tokens")
    made = await client.post(f"/console/{slug}/tokens", data={"name": name, "csrf": csrf(page)})
    found = TOKEN.search(made.text)
    assert found is not None, made.text
    return found.group(1)
