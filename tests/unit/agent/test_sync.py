"""passback.agent.sync: users in batches bounded by count and size (§1, L5, S8)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from passback.agent.directory.base import DirectoryGroup, DirectoryUser, Protection
from passback.agent.sync import batches, to_sync_user
from passback.protocol.messages import (
    MAX_SYNC_FRAME,
    MAX_SYNC_GROUPS,
    MAX_SYNC_USERS,
    MAX_USER_GROUPS,
    SyncBatch,
    SyncGroup,
    SyncUser,
    decode,
    encode,
)


def user(
    n: int, *, upn: str | None = "", mail: str | None = "", enabled: bool = True
) -> DirectoryUser:
    return DirectoryUser(
        dn=f"CN=user{n},OU=Users,DC=example,DC=test",
        anchor=uuid.UUID(int=n).bytes,
        sam_account_name=f"user{n}",
        user_principal_name=f"user{n}@example.test" if upn == "" else upn,
        mail=f"user{n}@example.test" if mail == "" else mail,
        enabled=enabled,
        locked=False,
        protection=None,
        password_stamp=0,
    )


def check_frames(result: list[SyncBatch], sync_id: str = "sync-1") -> None:
    """Sequence, last flag, and every batch a valid frame within its bound."""
    assert [b.sequence for b in result] == list(range(len(result)))
    assert [b.last for b in result] == [False] * (len(result) - 1) + [True]
    for batch in result:
        assert batch.sync_id == sync_id and batch.full
        text = encode(batch)
        assert len(text) <= MAX_SYNC_FRAME
        assert decode(text) == batch


def test_to_sync_user() -> None:
    assert to_sync_user(user(1, upn=None, mail=None, enabled=False)) == SyncUser(
        anchor="AAAAAAAAAAAAAAAAAAAAAQ",
        sam_account_name="user1",
        user_principal_name=None,
        mail=None,
        enabled=False,
    )


def test_empty_directory_gives_one_empty_last_batch() -> None:
    result = list(batches([], "sync-1"))
    assert result == [SyncBatch("sync-1", 0, True, True, ())]
    check_frames(result)


def test_one_batch() -> None:
    result = list(batches((user(n) for n in range(3)), "sync-1"))
    assert len(result) == 1
    assert [u.sam_account_name for u in result[0].users] == ["user0", "user1", "user2"]
    check_frames(result)


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (MAX_SYNC_USERS, [MAX_SYNC_USERS]),
        (MAX_SYNC_USERS + 1, [MAX_SYNC_USERS, 1]),
        (2 * MAX_SYNC_USERS, [MAX_SYNC_USERS, MAX_SYNC_USERS]),
        (2 * MAX_SYNC_USERS + 7, [MAX_SYNC_USERS, MAX_SYNC_USERS, 7]),
    ],
)
def test_batching_by_count(count: int, sizes: list[int]) -> None:
    result = list(batches((user(n) for n in range(count)), "sync-1"))
    assert [len(b.users) for b in result] == sizes
    check_frames(result)
    names = [u.sam_account_name for b in result for u in b.users]
    assert names == [f"user{n}" for n in range(count)]  # order kept, none lost


def test_batching_by_size() -> None:
    """Users with long names fill a frame before the count bound does."""
    big = [user(n, upn="u" * 1000 + f"{n}@x", mail="m" * 1000 + f"{n}@x") for n in range(300)]
    result = list(batches(big, "sync-1"))
    assert len(result) > 1
    assert all(len(b.users) < MAX_SYNC_USERS for b in result)
    assert sum(len(b.users) for b in result) == 300
    check_frames(result)
    # Full batches are reasonably full, not one user each.
    assert len(encode(result[0])) > MAX_SYNC_FRAME // 2


def test_size_bound_counts_characters_not_bytes() -> None:
    """The decoder bounds the text frame in characters; CJK names take 3 bytes
    each in UTF-8 but one character, and fit as such."""
    wide = [user(n, upn="語" * 1000, mail="語" * 1000) for n in range(200)]
    check_frames(list(batches(wide, "sync-1")))


def test_batch_of_values_that_json_escapes_fits() -> None:
    odd = [user(n, upn="\\" * 1000, mail='"' * 1000) for n in range(300)]
    check_frames(list(batches(odd, "sync-1")))


def test_the_service_account_and_critical_accounts_are_not_synced() -> None:
    """W5: the agent's own bind account and critical system accounts never reach
    the server, so neither the portal nor the API can address them; a member of
    a protected group does, so the portal can say why it is refused."""
    users = [
        user(1),
        dataclasses.replace(user(2), protection=Protection.SERVICE_ACCOUNT),
        dataclasses.replace(user(3), protection=Protection.CRITICAL),
        dataclasses.replace(user(4), protection=Protection.PROTECTED_GROUP),
        user(5),
    ]
    (batch,) = batches(users, "sync-1")
    assert [u.sam_account_name for u in batch.users] == ["user1", "user4", "user5"]
    assert batch.last


SID = "S-1-5-21-1004336348-1177238915-682003330-{}"


def test_a_users_groups_travel_sorted_and_bounded() -> None:
    """G6: the user's group SIDs (nested membership included) go with them;
    a text too long to be a SID is left out, and a token's worth at most."""
    member = dataclasses.replace(
        user(1), groups=frozenset({SID.format(2), SID.format(1), "S" * 185})
    )
    assert to_sync_user(member).groups == (SID.format(1), SID.format(2))
    many = dataclasses.replace(user(1), groups=frozenset(SID.format(i) for i in range(2000)))
    assert len(to_sync_user(many).groups) == MAX_USER_GROUPS


def test_groups_follow_the_users_in_the_batches() -> None:
    groups = [DirectoryGroup(SID.format(i), f"group {i}") for i in range(MAX_SYNC_GROUPS + 10)]
    result = list(batches([user(1), user(2)], "sync-1", groups))
    check_frames(result)
    assert [u.sam_account_name for u in result[0].users] == ["user1", "user2"]
    assert [len(b.groups) for b in result] == [MAX_SYNC_GROUPS, 10]
    assert result[0].groups[0] == SyncGroup(SID.format(0), "group 0")


def test_a_batch_of_big_users_and_groups_stays_within_the_frame() -> None:
    """Users with a full token of groups fill frames by size, not count."""
    heavy = [
        dataclasses.replace(user(n), groups=frozenset(SID.format(i) for i in range(1000)))
        for n in range(12)
    ]
    groups = [DirectoryGroup(SID.format(i), "n" * 256) for i in range(600)]
    result = list(batches(heavy, "sync-1", groups))
    check_frames(result)
    assert sum(len(b.users) for b in result) == 12
    assert sum(len(b.groups) for b in result) == 600
