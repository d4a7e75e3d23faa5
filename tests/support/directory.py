"""A tiny in-memory directory for the agent's unit tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

from passback.agent.directory.base import (
    LOCKOUT_RESERVE,
    DirectoryCapabilities,
    DirectoryGroup,
    DirectoryUser,
    OpenedConnection,
    PasswordPolicy,
    UserNotFound,
)


@dataclasses.dataclass
class FakeOpened:
    """A connection opened for a verify: bound on once, or closed unused."""

    bound: bool = False
    closed: bool = False

    def close(self) -> None:
        self.closed = True


class FakeDirectory:
    """An in-memory ``Directory``: users by anchor; each reset moves pwdLastSet."""

    def __init__(self, *users: DirectoryUser) -> None:
        self.users = {u.anchor: u for u in users}
        self.resets: list[tuple[bytes, str, bool]] = []
        self.changes: list[tuple[bytes, str, str]] = []  # anchor, old, new
        self.verifies: list[tuple[bytes, str]] = []
        #: Per locate: whether the failed-logon count was asked for (a verify).
        self.failed_logons_read: list[bool] = []
        #: Per verify: the failures kept for the owner before the lockout.
        self.reserves: list[int] = []
        self.opened: list[FakeOpened] = []  # connections opened for a verify
        self.verify_error: Exception | None = None
        self.unlocks: list[bytes] = []
        self.require_changes: list[bytes] = []
        self.locate_error: Exception | None = None
        #: Raised by a reset, a change, an unlock or a require-change, after it is recorded.
        self.reset_error: BaseException | None = None
        self.before_reset: Callable[[], None] | None = None
        self.groups: list[DirectoryGroup] = []
        self._lock = threading.Lock()

    def capabilities(self) -> DirectoryCapabilities:
        return DirectoryCapabilities(
            history_on_reset=False,
            max_password_length=256,
            policy_hints=False,
            writes_to="dc1.example.test",
        )

    def locate(self, anchor: bytes, *, failed_logons: bool = False) -> DirectoryUser:
        if self.locate_error is not None:
            raise self.locate_error
        with self._lock:
            self.failed_logons_read.append(failed_logons)
            try:
                return self.users[anchor]
            except KeyError:
                raise UserNotFound("no object carries the anchor") from None

    def reset_password(
        self, user: DirectoryUser, new_password: str, *, unlock: bool, must_change: bool = False
    ) -> None:
        if self.before_reset is not None:
            self.before_reset()
        with self._lock:
            self.resets.append((user.anchor, new_password, unlock))
            if must_change:
                self.require_changes.append(user.anchor)
        if self.reset_error is not None:
            raise self.reset_error
        with self._lock:
            current = self.users[user.anchor]
            self.users[user.anchor] = dataclasses.replace(
                current,
                # pwdLastSet: 0 for "must change at next logon", else the time.
                password_stamp=0 if must_change else current.password_stamp + 1,
                locked=current.locked and not unlock,
            )

    def change_password(self, user: DirectoryUser, old_password: str, new_password: str) -> None:
        with self._lock:
            self.changes.append((user.anchor, old_password, new_password))
        if self.reset_error is not None:
            raise self.reset_error
        with self._lock:
            current = self.users[user.anchor]
            self.users[user.anchor] = dataclasses.replace(
                current, password_stamp=current.password_stamp + 1
            )

    def open_for_verify(self) -> FakeOpened:
        opened = FakeOpened()
        self.opened.append(opened)
        return opened

    def verify_password(
        self,
        user: DirectoryUser,
        password: str,
        opened: OpenedConnection | None = None,
        *,
        reserve: int = LOCKOUT_RESERVE,
    ) -> None:
        assert opened is None or (isinstance(opened, FakeOpened) and not opened.closed)
        with self._lock:
            self.verifies.append((user.anchor, password))
            self.reserves.append(reserve)
        if isinstance(opened, FakeOpened):
            opened.bound = True
        if self.verify_error is not None:
            raise self.verify_error

    def unlock(self, user: DirectoryUser) -> None:
        with self._lock:
            self.unlocks.append(user.anchor)
        if self.reset_error is not None:
            raise self.reset_error
        with self._lock:
            self.users[user.anchor] = dataclasses.replace(self.users[user.anchor], locked=False)

    def require_password_change(self, user: DirectoryUser) -> None:
        with self._lock:
            self.require_changes.append(user.anchor)
        if self.reset_error is not None:
            raise self.reset_error
        with self._lock:
            self.users[user.anchor] = dataclasses.replace(self.users[user.anchor], password_stamp=0)

    def password_policy(self, user: DirectoryUser) -> PasswordPolicy:
        return PasswordPolicy("domain", 7, True, 0, 0, 0)

    def password_stamp(self, user: DirectoryUser) -> int:
        with self._lock:
            return self.users[user.anchor].password_stamp

    def iter_users(self) -> Iterator[DirectoryUser]:
        return iter(list(self.users.values()))

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        return iter(list(self.groups))

    def close(self) -> None:
        pass
