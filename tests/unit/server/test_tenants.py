"""passback.server.tenants: a tenant with its tokens and its package key, and a
unique portal slug."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from passback.crypto.tokens import ADMIN_PREFIX, ONBOARDING_PREFIX, token_matches
from passback.server.errors import SlugTaken, UnknownTenant
from passback.server.keyring import open_package_key
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.store.models import StoredPackageKey, Tenant, Token
from passback.server.tenants import (
    create_tenant,
    list_tenants,
    new_admin_token,
    new_onboarding_token,
    set_banned,
)
from tests.support.keys import TEST_MASTER_KEY


def test_slugs_from_names_are_made_unique(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = create_engine(url)
    with session_factory(engine)() as db, db.begin():
        assert create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).slug == "acme"
        assert create_tenant(db, "ACME", master_key=TEST_MASTER_KEY).slug == "acme-2"
        assert (
            create_tenant(db, "Other", slug="portal-x", master_key=TEST_MASTER_KEY).slug
            == "portal-x"
        )
        with pytest.raises(SlugTaken):
            create_tenant(db, "Again", slug="acme", master_key=TEST_MASTER_KEY)
        with pytest.raises(ValueError, match="lowercase"):
            create_tenant(db, "Bad", slug="Not OK", master_key=TEST_MASTER_KEY)
        assert [t.slug for t in list_tenants(db)] == ["acme", "acme-2", "portal-x"]
    engine.dispose()


def test_create_tenant(db: Session) -> None:
    created = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY)
    db.commit()
    assert created.admin_token.startswith(ADMIN_PREFIX)
    assert created.onboarding_token.startswith(ONBOARDING_PREFIX)
    assert created.admin_token not in repr(created)
    tokens = {t.kind: t for t in db.scalars(sa.select(Token))}
    assert token_matches(created.admin_token, tokens["admin"].token_hash)
    assert token_matches(created.onboarding_token, tokens["onboarding"].token_hash)
    stored = db.scalars(sa.select(StoredPackageKey)).one()
    assert open_package_key(TEST_MASTER_KEY, stored).key_id == stored.key_id
    assert stored.key_wrapped.startswith(f"mk1.{TEST_MASTER_KEY.key_id}.")
    [summary] = list_tenants(db)
    assert (summary.tenant_id, summary.name, summary.agents) == (created.tenant_id, "Acme", 0)
    assert summary.created_at.tzinfo is not None


def test_more_tokens(db: Session) -> None:
    tenant = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    assert new_onboarding_token(db, tenant).startswith(ONBOARDING_PREFIX)
    assert new_admin_token(db, tenant).startswith(ADMIN_PREFIX)
    db.commit()
    assert db.scalar(sa.select(sa.func.count(Token.id))) == 4


def test_tokens_for_an_unknown_tenant(db: Session) -> None:
    with pytest.raises(UnknownTenant):
        new_onboarding_token(db, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(UnknownTenant):
        new_admin_token(db, "00000000-0000-0000-0000-000000000000")


def test_tenant_needs_a_name(db: Session) -> None:
    with pytest.raises(ValueError, match="name"):
        create_tenant(db, "  ", master_key=TEST_MASTER_KEY)


def test_banned_passwords_setting(db: Session) -> None:
    tenant_id = create_tenant(db, "Acme", master_key=TEST_MASTER_KEY).tenant_id
    tenant = db.get(Tenant, tenant_id)
    assert tenant is not None
    assert (tenant.refuse_common, tenant.banned_words) == (True, "")  # on by default
    set_banned(db, tenant_id, banned_words=[" Roadrunner ", "", "Coyote"])
    assert (tenant.refuse_common, tenant.banned_words) == (True, "Roadrunner\nCoyote")
    set_banned(db, tenant_id, refuse_common=False)
    assert (tenant.refuse_common, tenant.banned_words) == (False, "Roadrunner\nCoyote")
    with pytest.raises(ValueError, match="line break"):
        set_banned(db, tenant_id, banned_words=["a\nb"])
    with pytest.raises(UnknownTenant):
        set_banned(db, "00000000-0000-0000-0000-000000000000", refuse_common=True)
