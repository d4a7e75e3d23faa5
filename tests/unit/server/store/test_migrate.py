"""passback.server.store.migrate: the migrations build exactly the models' schema,
run twice harmlessly and fill in what later revisions add."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from passback.server.store import create_engine, upgrade
from passback.server.store.models import Base


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(url: str) -> None:
    upgrade(url)


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


def store_with_a_tenant(tmp_path: Path, revision: str) -> tuple[str, sa.Engine, str]:
    """A store migrated up to ``revision`` holding tenant ``t1``; its URL, an
    engine on it and the time written (ISO 8601)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url, revision)
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC).isoformat()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO tenants (id, name, slug, created_at) VALUES ('t1', 'A', 'a', :at)"
            ),
            {"at": now},
        )
    return url, engine, now


def test_migration_0008_keeps_what_references_tenants(tmp_path: Path) -> None:
    """Tenants refuse common passwords from then on; nothing that references a
    tenant (ON DELETE CASCADE) goes with the new columns."""
    url, engine, now = store_with_a_tenant(tmp_path, "0007")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO package_keys (tenant_id, key_id, key_wrapped, created_at) "
                "VALUES ('t1', 'k1', 'wrapped', :at)"
            ),
            {"at": now},
        )
    upgrade(url, "0008")
    with engine.connect() as connection:
        tenant = connection.execute(sa.text("SELECT refuse_common, banned_words FROM tenants"))
        assert tenant.one() == (1, "")
        keys = connection.execute(sa.text("SELECT count(*) FROM package_keys")).scalar()
        assert keys == 1
    engine.dispose()


def test_migration_0028_keys_the_names_of_existing_users(tmp_path: Path) -> None:
    """Users synced before it are found by name after it, in any case and script."""
    url, engine, now = store_with_a_tenant(tmp_path, "0027")
    with engine.begin() as connection:
        for user_id, sam, upn in (("u1", "JOÃO", "João@Acme.Test"), ("u2", "Ana", None)):
            connection.execute(
                sa.text(
                    "INSERT INTO directory_users (id, tenant_id, anchor, sam_account_name, "
                    "user_principal_name, enabled, synced_at) "
                    "VALUES (:id, 't1', :id, :sam, :upn, 1, :at)"
                ),
                {"id": user_id, "sam": sam, "upn": upn, "at": now},
            )
        # More users than one page of the migration's (read a page at a time).
        connection.execute(
            sa.text(
                "INSERT INTO directory_users (id, tenant_id, anchor, sam_account_name, "
                "enabled, synced_at) VALUES (:id, 't1', :id, :sam, 1, :at)"
            ),
            [{"id": f"v{i:04d}", "sam": f"User{i}", "at": now} for i in range(2500)],
        )
    upgrade(url, "0028")
    with engine.connect() as connection:
        keys = connection.execute(
            sa.text("SELECT sam_key, upn_key FROM directory_users WHERE id < 'v' ORDER BY id")
        ).all()
        paged = connection.execute(
            sa.text("SELECT count(*) FROM directory_users WHERE sam_key = lower(sam_account_name)")
        ).scalar()
    assert [tuple(k) for k in keys] == [("joão", "joão@acme.test"), ("ana", None)]
    assert paged == 2500 + 1  # every page's users, and Ana
    engine.dispose()
