"""Administrators' own API tokens (U1): each acts with its administrator's
role, only while they are active, and is listed and revocable. The tenant's
bootstrap token (``passback tenant create``) stays for automation; the list
shows when each token was last used. Only a token's hash is stored; the token
is shown once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from passback.crypto.tokens import ADMIN_PREFIX, new_token, token_hash
from passback.server.console.errors import ConsoleError
from passback.server.i18n.translations import N_
from passback.server.store.models import Admin, Token
from passback.server.tenants import ADMIN

MAX_NAME = 64
#: Live tokens an administrator may hold at once.
MAX_TOKENS = 10


@dataclasses.dataclass(frozen=True)
class Listed:
    id: str
    name: str
    owner: str | None  # the administrator's email; None: the bootstrap token
    created_at: dt.datetime
    used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def create(db: Session, tenant_id: str, admin_id: str, name: str, now: dt.datetime) -> str:
    """A new token of the administrator, returned once.

    Raises:
        ConsoleError: ``invalid_name``, or ``too_many_tokens``.
    """
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ConsoleError(
            "invalid_name",
            N_("Name the token (at most %(n)d characters), e.g. the script that uses it."),
            values={"n": MAX_NAME},
            field="name",
        )
    live = db.scalars(
        select(Token.id).where(Token.admin_id == admin_id, Token.revoked_at.is_(None))
    ).all()
    if len(live) >= MAX_TOKENS:
        raise ConsoleError(
            "too_many_tokens",
            N_("You hold %(n)d tokens already: revoke one first."),
            values={"n": MAX_TOKENS},
        )
    token = new_token(ADMIN_PREFIX)
    db.add(
        Token(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=ADMIN,
            token_hash=token_hash(token),
            admin_id=admin_id,
            name=name,
            created_at=now,
        )
    )
    db.flush()
    return token


def listed(db: Session, tenant_id: str, admin_id: str | None) -> list[Listed]:
    """The tenant's admin tokens (``admin_id`` None: all of them, the bootstrap
    ones too), or only that administrator's; newest first."""
    query = (
        select(Token, Admin.email)
        .outerjoin(Admin, Admin.id == Token.admin_id)
        .where(Token.tenant_id == tenant_id, Token.kind == ADMIN)
        .order_by(Token.created_at.desc(), Token.id)
    )
    if admin_id is not None:
        query = query.where(Token.admin_id == admin_id)
    return [
        Listed(t.id, t.name or "", email, t.created_at, t.used_at, t.revoked_at)
        for t, email in db.execute(query)
    ]


def revoke(
    db: Session, tenant_id: str, token_id: str, *, by: str, every: bool, now: dt.datetime
) -> None:
    """Revoke a token: one of the administrator ``by``, or any of the tenant's
    when ``every`` (a tenant administrator).

    Raises:
        ConsoleError: ``token_not_found`` (404).
    """
    row = db.get(Token, token_id[:64])
    if (
        row is None
        or row.tenant_id != tenant_id
        or row.kind != ADMIN
        or (not every and row.admin_id != by)
    ):
        raise ConsoleError("token_not_found", N_("There is no such token."), status=404)
    if row.revoked_at is None:
        row.revoked_at = now
    db.flush()
