"""Minimal sync: the users under the search base, in batches, so the server
knows who exists and how to find them again (SPEC §1, L5).

Batches are bounded by count and by encoded size; later kinds of sync
(incremental, deletions, groups) add batch kinds, not new links.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from passback.agent.directory.base import DirectoryUser
from passback.protocol import anchors
from passback.protocol.messages import (
    MAX_PHONE_TEXT,
    MAX_SYNC_FRAME,
    MAX_SYNC_USERS,
    SyncBatch,
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
    )


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
    return _USER_OVERHEAD + sum(len(json.dumps(v, ensure_ascii=False)) for v in values)


def is_synced(user: DirectoryUser) -> bool:
    """Whether the server learns of ``user``: not the agent's own service account
    nor a critical system account, which no one may reset through Passback (W5);
    a member of a protected group is, so the portal can say why it is refused."""
    return user.protection is None or user.protection.synced


def batches(users: Iterable[DirectoryUser], sync_id: str) -> Iterator[SyncBatch]:
    """A full sync as batches of the users :func:`is_synced` lets through; the
    last one says so (an empty directory still sends one, empty, last batch)."""
    pending: list[SyncUser] = []
    size = 0
    sequence = 0
    for user in filter(is_synced, users):
        item = to_sync_user(user)
        if pending and (len(pending) == MAX_SYNC_USERS or size + _size(item) > _FRAME_BUDGET):
            yield SyncBatch(sync_id, sequence, True, False, tuple(pending))
            sequence += 1
            pending, size = [], 0
        pending.append(item)
        size += _size(item)
    yield SyncBatch(sync_id, sequence, True, True, tuple(pending))
