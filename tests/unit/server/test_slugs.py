"""Tenant slugs: the tenant's part of the portal's URL."""

from __future__ import annotations

import pytest

from passback.server.slugs import check_slug, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme", "acme"),
        ("Acme Corporação Ltda.", "acme-corporacao-ltda"),
        ("  --Contoso  Browser-- ", "contoso-browser"),
        ("x" * 100, "x" * 64),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert check_slug(slug) == slug


@pytest.mark.parametrize("name", ["", "!!!", "日本"])
def test_nothing_left_for_a_slug(name: str) -> None:
    with pytest.raises(ValueError, match="give one"):
        slugify(name)


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "ac me", "a" * 65, ""])
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(ValueError, match="lowercase"):
        check_slug(slug)
