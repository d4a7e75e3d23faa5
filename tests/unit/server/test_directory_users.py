"""Finding users by what a caller typed."""

from __future__ import annotations

import pytest

from passback.server.directory_users import canonical_name


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("alice", "alice"),
        ("  Alice ", "alice"),
        ("Alice@Contoso.com", "alice"),
        ("CONTOSO\\alice", "alice"),
        ("contoso\\Alice@contoso.com", "alice"),
        ("@contoso.com", "@contoso.com"),
    ],
)
def test_the_forms_of_one_name_are_one(typed: str, name: str) -> None:
    assert canonical_name(typed) == name
