"""Minimal sync: the users under the search base, in batches, so the server
knows who exists and how to find them again (SPEC §1, L5).

Batches are bounded by count and by encoded size. A full sync also carries the
domain's security groups (after the users), and each user's group SIDs, for
the self-service scope (G6); later kinds of sync (incremental, deletions) add
batch kinds, not new links.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator

from passback.agent.directory.base import DirectoryGroup, DirectoryUser
from passback.protocol import anchors
from passback.protocol.messages import (
    MAX_PHONE_TEXT,
    MAX_SID_TEXT,
    MAX_SYNC_FRAME,
    MAX_SYNC_GROUPS,
    MAX_SYNC_USERS,
    MAX_USER_GROUPS,
    SyncBatch,
    SyncGroup,
    SyncUser,
)

#: Room left in a frame for the batch's own fields.
_FRAME_BUDGET = MAX_SYNC_FRAME - 1024
#: JSON punctuation and field names around one user's values.
_USER_OVERHEAD = 128


def to_sync_user(user: DirectoryUser) -> SyncUser:
    return SyncUser(
        anchor=anchors.encode(user.anchor),
        sam_account_name=user.sam_account_name,
        user_principal_name=user.user_principal_name,
        mail=user.mail,
        enabled=user.enabled,
        mobile=_phone(user.mobile),
        telephone=_phone(user.telephone),
        groups=tuple(_sids(user.groups)),
    )


def _sids(groups: Iterable[str]) -> list[str]:
    """The group SIDs the protocol carries: a token holds at most
    ``MAX_USER_GROUPS``; a longer text is no SID."""
    return sorted(g for g in groups if len(g) <= MAX_SID_TEXT)[:MAX_USER_GROUPS]


def to_sync_group(group: DirectoryGroup) -> SyncGroup:
    return SyncGroup(sid=group.sid, name=group.name[:256])


def _phone(value: str | None) -> str | None:
    """A contact number the protocol carries; longer text is no number (None)."""
    return value if value and len(value) <= MAX_PHONE_TEXT else None


def _size(user: SyncUser) -> int:
    # The bound is on the text frame's characters, as JSON writes them:
    # quotes, backslashes and control characters are escaped.
    values = (
        user.anchor,
        user.sam_account_name,
        user.user_principal_name or "",
        user.mail or "",
        user.mobile or "",
        user.telephone or "",
    )
    return (
        _USER_OVERHEAD
        + sum(len(json.dumps(v, ensure_ascii=False)) for v in values)
        + sum(len(g) + 3 for g in user.groups)  # ASCII, quoted, comma
    )


def _group_size(group: SyncGroup) -> int:
    return _USER_OVERHEAD // 4 + len(group.sid) + len(json.dumps(group.name, ensure_ascii=False))


def is_synced(user: DirectoryUser) -> bool:
    """Whether the server learns of ``user``: not the agent's own service account
    nor a critical system account, which no one may reset through Passback (W5);
    a member of a protected group is, so the portal can say why it is refused."""
    return user.protection is None or user.protection.synced


def batches(
    users: Iterable[DirectoryUser], sync_id: str, groups: Iterable[DirectoryGroup] = ()
) -> Iterator[SyncBatch]:
    """A full sync as batches of the users :func:`is_synced` lets through, then
    of ``groups``; the last batch says so (an empty directory still sends one,
    empty, last batch)."""
    pending_users: list[SyncUser] = []
    pending_groups: list[SyncGroup] = []
    size = 0
    sequence = 0
    items: Iterator[SyncUser | SyncGroup] = itertools.chain(
        map(to_sync_user, filter(is_synced, users)), map(to_sync_group, groups)
    )
    for item in items:
        if isinstance(item, SyncUser):
            cost, full = _size(item), len(pending_users) == MAX_SYNC_USERS
        else:
            cost, full = _group_size(item), len(pending_groups) == MAX_SYNC_GROUPS
        if (pending_users or pending_groups) and (full or size + cost > _FRAME_BUDGET):
            yield SyncBatch(
                sync_id, sequence, True, False, tuple(pending_users), tuple(pending_groups)
            )
            sequence += 1
            pending_users, pending_groups, size = [], [], 0
        if isinstance(item, SyncUser):
            pending_users.append(item)
        else:
            pending_groups.append(item)
        size += cost
    yield SyncBatch(sync_id, sequence, True, True, tuple(pending_users), tuple(pending_groups))
