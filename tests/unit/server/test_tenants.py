"""Tenants get a unique portal slug; migration 0002 gives existing ones one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from passback.server.errors import SlugTaken
from passback.server.store import create_engine, session_factory, upgrade
from passback.server.tenants import create_tenant, list_tenants
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


def test_migration_0002_gives_existing_tenants_slugs_and_a_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url, "0001")
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC).isoformat()
    with engine.begin() as connection:
        for n, name in enumerate(["Acme", "acme", "???"]):
            connection.execute(
                sa.text("INSERT INTO tenants (id, name, created_at) VALUES (:id, :name, :at)"),
                {"id": f"00000000-0000-0000-0000-00000000000{n}", "name": name, "at": now},
            )
    upgrade(url, "0002")
    with engine.connect() as connection:
        slugs = connection.execute(sa.text("SELECT slug FROM tenants ORDER BY id")).scalars()
        assert list(slugs) == ["acme", "acme-2", "tenant"]
        secret = connection.execute(sa.text("SELECT value_b64 FROM server_secrets")).scalar()
        assert secret and len(secret) == 44  # 32 random bytes, base64
    engine.dispose()
