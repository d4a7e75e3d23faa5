"""The anchor match rule (W6) on raw entries."""

from __future__ import annotations

import pytest

from passback.agent.directory.base import DuplicateAnchor, UserNotFound
from passback.agent.directory.users import choose_match

ANCHOR = b"\x11" * 16
OTHER = b"\x22" * 16


def attrs(
    guid: bytes, consistency: bytes | None = None, uac: bytes = b"512"
) -> dict[str, list[bytes]]:
    values = {"objectGUID": [guid], "userAccountControl": [uac]}
    if consistency is not None:
        values["ms-DS-ConsistencyGuid"] = [consistency]
    return values


def test_found_by_object_guid_but_anchored_elsewhere_is_not_found() -> None:
    """The objectGUID matches, but ms-DS-ConsistencyGuid (the effective anchor)
    differs: the object does not carry the anchor (33002), no duplicate."""
    with pytest.raises(UserNotFound):
        choose_match(ANCHOR, [("CN=a", attrs(ANCHOR, consistency=OTHER))])


def test_no_candidates_is_not_found() -> None:
    with pytest.raises(UserNotFound):
        choose_match(ANCHOR, [])


def test_only_the_claimants_count() -> None:
    candidates = [("CN=a", attrs(ANCHOR, consistency=OTHER)), ("CN=b", attrs(OTHER, ANCHOR))]
    assert choose_match(ANCHOR, candidates) == "CN=b"


def test_two_disabled_claimants_are_a_duplicate_anchor() -> None:
    candidates = [("CN=a", attrs(OTHER, ANCHOR, b"514")), ("CN=b", attrs(ANCHOR, None, b"514"))]
    with pytest.raises(DuplicateAnchor):
        choose_match(ANCHOR, candidates)
