"""Tenants and their bearer tokens (SPEC L1): what ``passback tenant …`` does.

Plain functions over a SQLAlchemy ``Session``. They add and flush rows; the
caller owns the transaction and commits. Tokens are returned once, in clear;
only their hash is stored (S1).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passback.crypto.keys import PackageKey
from passback.crypto.masterkey import MasterKey
from passback.crypto.tokens import ADMIN_PREFIX, ONBOARDING_PREFIX, new_token, token_hash
from passback.server.errors import SlugTaken, UnknownTenant
from passback.server.keyring import wrap_package_key
from passback.server.slugs import MAX_SLUG_LENGTH, check_slug, slugify
from passback.server.store.models import Agent, StoredPackageKey, Tenant, Token, utcnow

ADMIN = "admin"
ONBOARDING = "onboarding"


@dataclasses.dataclass(frozen=True)
class CreatedTenant:
    tenant_id: str
    name: str
    slug: str
    admin_token: str = dataclasses.field(repr=False)
    onboarding_token: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class TenantSummary:
    tenant_id: str
    name: str
    slug: str
    created_at: dt.datetime
    agents: int  # onboarded and not revoked


def create_tenant(
    session: Session, name: str, slug: str | None = None, *, master_key: MasterKey
) -> CreatedTenant:
    """A new tenant with its first package key (wrapped under ``master_key``), an
    admin token and an onboarding token for its first agent.

    Args:
        slug: the tenant's part of the portal's URL; if None, made from
            ``name`` (with ``-2``, ``-3``… if another tenant has it).

    Raises:
        ValueError: no name, or a slug that is not valid.
        SlugTaken: another tenant has the slug given.
    """
    if not name.strip():
        raise ValueError("a tenant needs a name")
    if slug is None:
        slug = _free_slug(session, slugify(name))
    elif _slug_taken(session, check_slug(slug)):
        raise SlugTaken(f"another tenant has the slug {slug!r}: give another one")
    now = utcnow()
    tenant = Tenant(
        id=str(uuid.uuid4()), name=name, slug=slug, created_at=now, unlock_on_reset=True
    )
    session.add(tenant)
    session.flush()
    key = PackageKey.generate()
    session.add(
        StoredPackageKey(
            tenant_id=tenant.id,
            key_id=key.key_id,
            key_wrapped=wrap_package_key(master_key, tenant.id, key),
            created_at=now,
        )
    )
    admin = _add_token(session, tenant.id, ADMIN, ADMIN_PREFIX)
    onboarding = _add_token(session, tenant.id, ONBOARDING, ONBOARDING_PREFIX)
    session.flush()
    return CreatedTenant(tenant.id, name, slug, admin, onboarding)


def new_onboarding_token(session: Session, tenant_id: str) -> str:
    """A one-time token that lets one more agent join the tenant.

    Raises:
        UnknownTenant: no tenant has this id.
    """
    _require_tenant(session, tenant_id)
    token = _add_token(session, tenant_id, ONBOARDING, ONBOARDING_PREFIX)
    session.flush()
    return token


def new_admin_token(session: Session, tenant_id: str) -> str:
    """Another admin API token for the tenant (the earlier ones stay valid).

    Raises:
        UnknownTenant: no tenant has this id.
    """
    _require_tenant(session, tenant_id)
    token = _add_token(session, tenant_id, ADMIN, ADMIN_PREFIX)
    session.flush()
    return token


def set_banned(
    session: Session,
    tenant_id: str,
    *,
    refuse_common: bool | None = None,
    banned_words: Sequence[str] | None = None,
) -> Tenant:
    """Whether the tenant refuses common and easily guessed passwords, and the
    words it bans besides its name and slug (``policy.banned``); None keeps it.
    Returns the tenant as it is now.

    Raises:
        UnknownTenant: no tenant has this id.
        ValueError: a banned word holds a line break (one word a line is stored).
    """
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise UnknownTenant(f"no tenant {tenant_id}")
    if refuse_common is not None:
        tenant.refuse_common = refuse_common
    if banned_words is not None:
        if any("\n" in word or "\r" in word for word in banned_words):
            raise ValueError("a banned word cannot hold a line break")
        tenant.banned_words = "\n".join(w.strip() for w in banned_words if w.strip())
    session.flush()
    return tenant


def list_tenants(session: Session) -> list[TenantSummary]:
    agents = (
        select(Agent.tenant_id, func.count(Agent.id).label("n"))
        .where(Agent.revoked_at.is_(None))
        .group_by(Agent.tenant_id)
        .subquery()
    )
    rows = session.execute(
        select(Tenant, func.coalesce(agents.c.n, 0))
        .outerjoin(agents, agents.c.tenant_id == Tenant.id)
        .order_by(Tenant.created_at, Tenant.id)
    ).all()
    return [TenantSummary(t.id, t.name, t.slug, t.created_at, int(n)) for t, n in rows]


def _slug_taken(session: Session, slug: str) -> bool:
    return session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None


def _free_slug(session: Session, base: str) -> str:
    base = base[: MAX_SLUG_LENGTH - 6].strip("-")
    slug, n = base, 1
    while _slug_taken(session, slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _require_tenant(session: Session, tenant_id: str) -> None:
    if session.get(Tenant, tenant_id) is None:
        raise UnknownTenant(f"no tenant {tenant_id}")


def _add_token(session: Session, tenant_id: str, kind: str, prefix: str) -> str:
    token = new_token(prefix)
    session.add(
        Token(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=kind,
            token_hash=token_hash(token),
            created_at=utcnow(),
        )
    )
    return token
