"""Tenant slugs: the tenant's part of the portal's URL (``/portal/<slug>/``)."""

from __future__ import annotations

import re
import unicodedata

#: Lowercase ASCII letters, digits and inner hyphens; short enough for a URL.
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_SLUG_LENGTH = 64


def slugify(name: str) -> str:
    """``"Acme Corporação"`` → ``"acme-corporacao"``.

    Raises:
        ValueError: nothing of ``name`` is left for a slug.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG_LENGTH].strip("-")
    if not slug:
        raise ValueError(f"cannot make a slug of {name!r}: give one")
    return slug


def check_slug(slug: str) -> str:
    """``slug`` if it is valid.

    Raises:
        ValueError: it is not (the message says what is allowed).
    """
    if not SLUG_PATTERN.match(slug):
        raise ValueError(
            "a slug is 1 to 64 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return slug
