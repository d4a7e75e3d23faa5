"""Use-case: a password operation written back to the directory (SPEC W1, W3,
W8, U4): ``reset_password`` with ``Operation.ADMIN_RESET`` for an administrator
through the API, or with ``Operation.RESET`` for the user in the portal;
``change_password`` (the current password known) and ``verify_password``
(sign-in, nothing written) for the user; and, with no password at all,
``write_account`` with ``Operation.UNLOCK`` (an administrator, or the user
after a gate) or ``Operation.REQUIRE_CHANGE`` (an administrator); and
``read_account`` (``Operation.STATUS``: the account's state, nothing written).

Check the password (only what no directory takes, and, when the tenant asks,
no common or easily guessed one) → find the user in the tenant → W2: an agent
must be present → seal for one agent (S2, S3) → the hub delivers it and brings
the result back (W1) → record the operation, never the password (S7).

``request_id`` is an idempotency key: a retry with the same id seals a fresh
envelope with the same id, preferably for the agent that had it, and that
agent answers from its journal instead of applying it twice.

The record of a request names its agent in the same transaction that records
the request id, before the envelope leaves: from then until the outcome is
recorded the request is in doubt, and a retry goes only to that agent (whose
journal knows) or is answered ``outcome_unknown``, never "not written". So a
success is recorded after its answer has gone back (``Services.deferred``): a
crash in between leaves the request in doubt, which a retry settles with the
same "ok" from the agent's journal; a caller that writes to the store next
records it in that transaction instead (``records_success``). Any other
outcome is recorded before the answer, since a support record made from the
answer reads it.

A caller's own writes that belong with the request go in the same
transactions through a ``Companion``: an administrator's audit event is
written with the request's record, before the envelope leaves, as "outcome
unknown", and finished with the outcome (after the answer, for a success).
A crash in between leaves the event saying what the record says: in doubt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import uuid
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from passback.crypto.envelope import Metadata, seal
from passback.crypto.keys import PackageKey, public_key_from_pem
from passback.policy.banned import BannedReason, check_banned, tenant_words
from passback.policy.password import PasswordProblem, check_password
from passback.protocol import anchors
from passback.protocol.features import Feature
from passback.protocol.messages import Result
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import entitlements
from passback.server.agents import newest_package_key
from passback.server.directory_users import users_named
from passback.server.errors import (
    AgentLost,
    AgentTooOld,
    AgentUnavailable,
    NotFound,
    ReplyTimeout,
    RequestBusy,
    RequestConflict,
    RequestInProgress,
    ServiceUnavailable,
    Unprocessable,
)
from passback.server.services import Services
from passback.server.store.models import Agent, DirectoryUser, OperationRecord, Tenant, utcnow
from passback.server.types import AgentRouter, Clock

logger = logging.getLogger(__name__)

IN_PROGRESS = "A request with this request id is still in progress. Wait for it to finish."
MUST_CHANGE_TOO_OLD = (
    "No connected agent can make the user change the password at next logon in the same "
    "write: upgrade the agents, or reset without it and require the change afterwards."
)
_PASSWORD_MESSAGES = {
    PasswordProblem.EMPTY: "The new password must not be empty.",
    PasswordProblem.INVALID: (
        "The new password contains a character that cannot be stored "
        "(a NUL character or an unpaired surrogate). Choose another password."
    ),
}


#: The operations that set a new password: the common-password check applies.
_NEW_PASSWORD = frozenset({Operation.RESET, Operation.ADMIN_RESET, Operation.CHANGE})

#: The operations that write to the directory: the tenant's plan must have
#: writeback (E1). A check or a status read writes nothing.
_WRITES = frozenset(set(Operation) - {Operation.VERIFY, Operation.STATUS})

#: Earlier outcomes of a request id after which its password is, or may be, in the
#: directory: only the agent's journal can settle a retry.
_MAY_BE_WRITTEN = frozenset({Outcome.OK.value, Outcome.OUTCOME_UNKNOWN.value})


@dataclasses.dataclass(frozen=True)
class UserId:
    """A user the caller already resolved: the server's own id, looked up as
    that alone (not also as an account name or UPN)."""

    value: str

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class WritebackResult:
    request_id: str
    outcome: Outcome
    support_code: str
    agent_id: str | None = None
    event_id: int = 0
    detail: dict[str, int | str] = dataclasses.field(default_factory=dict)
    replayed: bool = False  # the agent answered from its journal
    #: The server's id of the user, once found (None: refused before the look-up).
    user_id: str | None = None


class Companion(Protocol):
    """A caller's writes that go in writeback's own transactions, so that
    they cost none of their own (module doc)."""

    def requested(self, db: Session, user_id: str, support_code: str) -> None:
        """In the transaction that records the request, once the user is
        found, before the envelope leaves."""

    def ended(self, db: Session, result: WritebackResult) -> None:
        """In the transaction that records the outcome: before the answer,
        or, for a success, after it (``Deferred`` with ``records``)."""


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything read from the store before the password leaves."""

    user_id: str
    anchor: bytes
    unlock: bool
    package_key: PackageKey
    #: Present agents that may take it, in order, each with its public key PEM;
    #: the record names the first one already.
    candidates: list[tuple[str, str]]
    previous_agent: str | None
    #: An earlier delivery of this request id was written or may have been: no
    #: answer for it may say "not written" unless the agent itself says so.
    may_be_written: bool
    support_code: str


async def reset_password(
    operation: Operation,
    *,
    services: Services,
    tenant_id: str,
    user: str | UserId,
    new_password: str,
    request_id: str | None = None,
    unlock: bool | None = None,
    must_change: bool = False,
    records_success: bool = False,
    companion: Companion | None = None,
    clock: Clock = utcnow,
) -> WritebackResult:
    """Reset ``user``'s password in the directory (W1, W3).

    Args:
        operation: who asks: ``RESET`` (the user, self-service) or
            ``ADMIN_RESET``; the agent records each under its own events (E3).
        user: the server's user id, the sAMAccountName (any case) or the UPN;
            a ``UserId`` when the caller already resolved the user.
        request_id: a UUID chosen by the caller to make retries safe; new if None.
        unlock: also unlock the account; ``None`` means the tenant's setting.
        must_change: the user must change the password at next logon
            (``pwdLastSet`` = 0 in the same write); ``ADMIN_RESET`` only.
        records_success: the caller records a success with
            :func:`record_success` in its own next transaction (module doc).
        companion: the caller's writes that go with the request's record and
            with its outcome (module doc).

    Returns:
        How it ended; ``outcome`` is ``Outcome.OK`` or the reason it failed.

    Raises:
        Unprocessable: the password is empty or holds text that cannot be stored.
        NotEntitled: the tenant's plan lacks writeback (E1).
        NotFound: no such user in the tenant (code ``user_not_found``).
        RequestConflict: ``request_id`` belongs to another user.
        RequestBusy: ``request_id`` is in flight.
        ServiceUnavailable: ``must_change``, and agents are connected but none
            announced it (code ``agent_too_old``; ``protocol.features``).
    """
    fresh = not request_id
    request_id = str(uuid.UUID(request_id)) if request_id else str(uuid.uuid4())
    problem = check_password(new_password)
    if problem is PasswordProblem.TOO_LONG:
        result = WritebackResult(request_id, Outcome.TOO_LONG, str(uuid.uuid4()))
        _log(operation, tenant_id, user, result)
        return result
    if problem is not None:
        raise Unprocessable(_PASSWORD_MESSAGES[problem], code=problem.value, request_id=request_id)
    if must_change and operation is not Operation.ADMIN_RESET:
        raise ValueError("only an administrator's reset can require a change at next logon")
    return await _write_back(
        operation,
        services,
        tenant_id,
        user,
        request_id,
        [new_password],
        unlock,
        clock,
        fresh=fresh,
        must_change=must_change,
        records_success=records_success,
        companion=companion,
    )


async def change_password(
    *,
    services: Services,
    tenant_id: str,
    user: str | UserId,
    current_password: str,
    new_password: str,
    request_id: str | None = None,
    records_success: bool = False,
    clock: Clock = utcnow,
) -> WritebackResult:
    """Change ``user``'s password, the current one known (W3): the directory
    itself checks ``current_password``, the history and the minimum age.

    Args:
        records_success: the caller records a success with :func:`record_success`
            in the transaction it writes next (instead of one of its own).

    Returns:
        How it ended: ``Outcome.OK``, ``WRONG_PASSWORD`` for a wrong current
        password, ``CANNOT_CHANGE``, a policy refusal (``TOO_YOUNG`` with
        ``detail["allowed_at"]``), …

    Raises:
        Unprocessable: a password is empty or holds text that cannot be stored.
        NotFound, RequestConflict, RequestBusy: as for :func:`reset_password`.
    """
    fresh = not request_id
    request_id = str(uuid.UUID(request_id)) if request_id else str(uuid.uuid4())
    # A current password longer than any the directory holds is simply wrong.
    for password, too_long in (
        (new_password, Outcome.TOO_LONG),
        (current_password, Outcome.WRONG_PASSWORD),
    ):
        problem = check_password(password)
        if problem is PasswordProblem.TOO_LONG:
            result = WritebackResult(request_id, too_long, str(uuid.uuid4()))
            _log(Operation.CHANGE, tenant_id, user, result)
            return result
        if problem is not None:
            raise Unprocessable(
                _PASSWORD_MESSAGES[problem], code=problem.value, request_id=request_id
            )
    return await _write_back(
        Operation.CHANGE,
        services,
        tenant_id,
        user,
        request_id,
        [new_password, current_password],
        False,
        clock,
        records_success=records_success,
        fresh=fresh,
    )


async def verify_password(
    *,
    services: Services,
    tenant_id: str,
    user: str | UserId,
    password: str,
    records_success: bool = False,
    owner: bool = False,
    clock: Clock = utcnow,
) -> WritebackResult:
    """Check ``user``'s password against the directory (U4): one bind as the
    user on the agent's side, nothing written. The common-password check does
    not apply (the password is the directory's already). ``records_success``
    as for :func:`change_password`. ``owner``: asked from the owner's own
    browser (its device token), so an agent that knows the flag keeps no
    lockout reserve for the owner against it (``Feature.OWNER``).

    Returns:
        ``Outcome.OK`` with the account's state in ``detail``
        (``password_set_at``, ``password_expires_at``, ``locked``), or why not:
        ``WRONG_PASSWORD``, ``MUST_CHANGE``, ``PASSWORD_EXPIRED`` (both with the
        state), ``DISABLED``, ``LOCKED``, ``ACCOUNT_EXPIRED``, …

    Raises:
        NotFound: no such user. A caller that must not tell an unknown user
            from a wrong password (T2) answers both alike.
    """
    request_id = str(uuid.uuid4())
    problem = check_password(password)
    if problem is not None:  # no directory holds such a password: wrong, unasked
        result = WritebackResult(request_id, Outcome.WRONG_PASSWORD, str(uuid.uuid4()))
        _log(Operation.VERIFY, tenant_id, user, result)
        return result
    return await _write_back(
        Operation.VERIFY,
        services,
        tenant_id,
        user,
        request_id,
        [password],
        False,
        clock,
        records_success=records_success,
        fresh=True,
        owner=owner,
    )


async def write_account(
    operation: Operation,
    *,
    services: Services,
    tenant_id: str,
    user: str | UserId,
    request_id: str | None = None,
    records_success: bool = False,
    companion: Companion | None = None,
    clock: Clock = utcnow,
) -> WritebackResult:
    """Unlock ``user``'s account (``UNLOCK``: ``lockoutTime`` = 0) or make the
    user change the password at next logon (``REQUIRE_CHANGE``: ``pwdLastSet``
    = 0), as an administrator (W3). Nothing secret is sealed; the password is
    left as it is. Both are idempotent in the directory, and a retry with the
    same ``request_id`` is answered as for :func:`reset_password`, and
    ``records_success`` and ``companion`` mean what they mean there.

    Raises:
        ValueError: ``operation`` carries a password (use :func:`reset_password`).
        NotFound, RequestConflict, RequestBusy: as for :func:`reset_password`.
    """
    if operation.secrets:
        raise ValueError(f"a {operation} carries a password: use reset_password")
    fresh = not request_id
    request_id = str(uuid.UUID(request_id)) if request_id else str(uuid.uuid4())
    return await _write_back(
        operation,
        services,
        tenant_id,
        user,
        request_id,
        [],
        False,
        clock,
        fresh=fresh,
        records_success=records_success,
        companion=companion,
    )


#: A status read is shown while a person waits for a page: ask quickly or not at
#: all. The agent's own directory timeouts are longer, so a DC that hangs can
#: run past it too.
READ_TIMEOUT = 5.0


async def read_account(
    *, services: Services, tenant_id: str, user: UserId, clock: Clock = utcnow
) -> Result:
    """Ask one present agent for ``user``'s account state (``Operation.STATUS``).

    Nothing is written, so nothing is recorded: no operation record (a read
    needs no idempotency key and leaves nothing in doubt), and the next agent
    is tried when one is not there or drops the link.

    Returns:
        The agent's answer: ``Outcome.OK`` with the state in ``detail`` (see
        ``agent.writeback.status_of``), or why it could not read it
        (``USER_NOT_FOUND``, ``DIRECTORY_UNAVAILABLE``, …).

    Raises:
        NotFound: no such user in the tenant.
        AgentTooOld: agents are connected, but none announced the status
            operation (an older agent cannot open its envelope and would not answer).
        AgentUnavailable: no agent of the tenant is connected (W2), or none took it.
        ReplyTimeout: the agent did not answer within :data:`READ_TIMEOUT`.
    """
    router, settings = services.router, services.settings
    present = await _able(router, tenant_id, Feature.ACCOUNT_STATUS)
    anchor, keys, package_key = await asyncio.to_thread(_read_plan, services, tenant_id, user.value)
    request_id = str(uuid.uuid4())
    for agent_id in present:
        if agent_id not in keys:
            continue
        now = int(clock().timestamp())
        metadata = Metadata(
            tenant_id=tenant_id,
            agent_id=agent_id,
            request_id=request_id,
            operation=Operation.STATUS,
            anchor=anchor,
            issued_at=now,
            expires_at=now + settings.operation_ttl,
        )
        envelope = seal(
            metadata, [], agent_key=_public_key(keys[agent_id]), package_key=package_key
        )
        try:
            return await router.request(
                tenant_id, agent_id, request_id, envelope, Result, READ_TIMEOUT
            )
        except (AgentUnavailable, AgentLost):
            continue  # nothing written: another agent may read it (L4)
    raise AgentUnavailable(f"no agent of tenant {tenant_id} took the read")


async def _able(router: AgentRouter, tenant_id: str, feature: Feature) -> list[str]:
    """The tenant's connected agents that announced ``feature``.

    Raises:
        AgentTooOld: agents are connected, and none announced it.
    """
    able = await router.present(tenant_id, frozenset({feature.value}))
    if not able and await router.present(tenant_id):
        raise AgentTooOld(tenant_id, feature.value)
    return able


def _read_plan(
    services: Services, tenant_id: str, user_id: str
) -> tuple[bytes, dict[str, str], PackageKey]:
    with services.sessions() as db:
        found = db.scalar(_USER, {"tenant_id": tenant_id, "user_id": user_id})
        if found is None:
            raise NotFound(
                "No synced user of your organisation has this id.",
                code=Outcome.USER_NOT_FOUND.value,
            )
        keys = {
            agent_id: pem for agent_id, pem in db.execute(_AGENT_KEYS, {"tenant_id": tenant_id})
        }
        return (
            anchors.decode(found.anchor),
            keys,
            newest_package_key(db, tenant_id, services.master_key),
        )


async def _write_back(
    operation: Operation,
    services: Services,
    tenant_id: str,
    user: str | UserId,
    request_id: str,
    secrets: list[str],
    unlock: bool | None,
    clock: Clock,
    *,
    records_success: bool = False,
    fresh: bool = False,
    must_change: bool = False,
    companion: Companion | None = None,
    owner: bool = False,
) -> WritebackResult:
    """Find the user, seal ``secrets`` for one present agent, and bring its answer back.
    ``fresh``: ``request_id`` was drawn here, so no record can have it yet.
    ``owner``: flagged only to agents that know the flag, preferred; without
    one, the check goes unflagged (an older agent keeps no reserve at all)."""
    sessions, router, settings = services.sessions, services.router, services.settings
    try:
        present = (
            await _able(router, tenant_id, Feature.MUST_CHANGE)
            if must_change
            else await router.present(tenant_id)
        )
    except AgentTooOld:
        raise ServiceUnavailable(MUST_CHANGE_TOO_OLD, code="agent_too_old") from None
    if owner:
        knowing = await router.present(tenant_id, frozenset({Feature.OWNER.value}))
        owner = bool(knowing)
        present = knowing or present
    plan = await asyncio.to_thread(
        _prepare,
        services,
        operation,
        tenant_id,
        user,
        request_id,
        secrets,
        unlock,
        present,
        fresh,
        companion,
    )
    if isinstance(plan, WritebackResult):
        _log(operation, tenant_id, user, plan)
        return plan

    result = WritebackResult(
        request_id, Outcome.SERVICE_UNAVAILABLE, plan.support_code, user_id=plan.user_id
    )
    for index, (agent_id, agent_pem) in enumerate(plan.candidates):
        if index > 0:  # the record must name the agent before the envelope leaves
            await asyncio.to_thread(_assign, sessions, tenant_id, request_id, agent_id)
        now = int(clock().timestamp())
        metadata = Metadata(
            tenant_id=tenant_id,
            agent_id=agent_id,
            request_id=request_id,
            operation=operation,
            anchor=plan.anchor,
            issued_at=now,
            expires_at=now + settings.operation_ttl,
            unlock=plan.unlock,
            must_change=must_change,
            owner=owner,
        )
        agent_key = _public_key(agent_pem)
        envelope = seal(metadata, secrets, agent_key=agent_key, package_key=plan.package_key)
        try:
            answer = await router.request(
                tenant_id, agent_id, request_id, envelope, Result, settings.reply_timeout
            )
        except AgentUnavailable:
            continue  # not delivered: another agent may take it (L4)
        except (AgentLost, ReplyTimeout):
            result = dataclasses.replace(result, outcome=Outcome.OUTCOME_UNKNOWN, agent_id=agent_id)
            break
        except RequestInProgress:
            raise RequestBusy(IN_PROGRESS, request_id=request_id) from None
        result = dataclasses.replace(
            result,
            outcome=answer.outcome,
            agent_id=agent_id,
            event_id=answer.event_id,
            detail=dict(answer.detail),
            replayed=answer.replayed,
        )
        break
    if plan.may_be_written and result.outcome is Outcome.SERVICE_UNAVAILABLE:
        # Its agent is not here to tell: still in doubt, never "not written".
        result = dataclasses.replace(
            result, outcome=Outcome.OUTCOME_UNKNOWN, agent_id=plan.previous_agent
        )
    # Delivered nowhere: the record names the agent it had before this call.
    named = result.agent_id or plan.previous_agent
    if result.outcome is not Outcome.OK:
        await asyncio.to_thread(_record, sessions, tenant_id, result, named, companion)
    elif not records_success:
        services.deferred.run(
            functools.partial(_record, sessions, tenant_id, result, named, companion),
            f"outcome of request {request_id}",
            records=True,
        )
    _log(operation, tenant_id, user, result)
    return result


def _prepare(
    services: Services,
    operation: Operation,
    tenant_id: str,
    user: str | UserId,
    request_id: str,
    secrets: list[str],
    unlock: bool | None,
    present: list[str],
    fresh: bool,
    companion: Companion | None = None,
) -> _Plan | WritebackResult:
    with services.sessions() as db, db.begin():
        tenant = db.get(Tenant, tenant_id)
        if tenant is not None and operation in _WRITES:
            entitlements.require(tenant, entitlements.Feature.WRITEBACK)
        # Too easy to guess: refused before anything is looked up or recorded.
        new_password = secrets[0] if secrets and operation in _NEW_PASSWORD else None
        banned = None
        if tenant is not None and new_password is not None:
            banned = _banned(tenant, new_password)
        if banned is not None:
            detail: dict[str, int | str] = {"reason": banned.value}
            return WritebackResult(
                request_id, Outcome.COMMON_PASSWORD, str(uuid.uuid4()), detail=detail
            )
        if isinstance(user, UserId):
            matches = list(db.scalars(_USER, {"tenant_id": tenant_id, "user_id": user.value}))
        else:
            matches = users_named(db, tenant_id, user)
        if not matches:
            raise NotFound(
                "No synced user of your organisation has this id, account name or UPN.",
                code=Outcome.USER_NOT_FOUND.value,
                request_id=request_id,
            )
        if len(matches) > 1:
            return WritebackResult(request_id, Outcome.MULTIPLE_MATCHES, str(uuid.uuid4()))
        found = matches[0]
        if tenant is None:  # the user row references it: only a broken store
            raise RuntimeError(f"user {found.id} has no tenant {tenant_id}")
        # Read before the record is added: a read would flush it, outside the
        # try below.
        keys = {
            agent_id: pem for agent_id, pem in db.execute(_AGENT_KEYS, {"tenant_id": tenant_id})
        }
        # A new random id needs no look-up: a collision fails the insert below.
        record = None if fresh else db.get(OperationRecord, (tenant_id, request_id))
        if record is not None and record.user_id != found.id:
            raise RequestConflict(
                "This request id was already used for another request. Use a new request id.",
                request_id=request_id,
            )
        if record is None:
            record = OperationRecord(
                request_id=request_id,
                tenant_id=tenant_id,
                user_id=found.id,
                operation=operation.value,
                detail_json="{}",
                support_code=str(uuid.uuid4()),
                created_at=utcnow(),
            )
            db.add(record)
        previous = record.agent_id
        # Sent to an agent and never finished (the server stopped before the
        # outcome was recorded): in doubt, as an "outcome_unknown" is.
        may_be_written = record.outcome in _MAY_BE_WRITTEN or (
            record.outcome is None and previous is not None
        )
        candidates = [(a, keys[a]) for a in present if a in keys]
        if previous is not None:
            # A request id stays with the agent that had it: only its journal knows
            # whether the password was written. Another agent would write it again.
            candidates = [c for c in candidates if c[0] == previous]
        elif candidates:
            record.agent_id = candidates[0][0]
        try:
            db.flush()
        except IntegrityError:  # the same new request id, concurrently
            raise RequestBusy(IN_PROGRESS, request_id=request_id) from None
        if companion is not None:
            companion.requested(db, found.id, record.support_code)
        return _Plan(
            user_id=found.id,
            anchor=anchors.decode(found.anchor),
            unlock=tenant.unlock_on_reset if unlock is None else unlock,
            package_key=newest_package_key(db, tenant_id, services.master_key),
            candidates=candidates,
            previous_agent=previous,
            may_be_written=may_be_written,
            support_code=record.support_code,
        )


#: The statements of a writeback's reads, built once (building one took
#: longer than running it).
_USER = select(DirectoryUser).where(
    DirectoryUser.tenant_id == bindparam("tenant_id"), DirectoryUser.id == bindparam("user_id")
)
_AGENT_KEYS = select(Agent.id, Agent.public_key_pem).where(
    Agent.tenant_id == bindparam("tenant_id"), Agent.revoked_at.is_(None)
)


def _banned(tenant: Tenant, password: str) -> BannedReason | None:
    """Why ``tenant`` refuses ``password`` as too easy to guess, if it does."""
    if not tenant.refuse_common:
        return None
    return check_banned(
        password, tenant_words(tenant.name, tenant.slug, tenant.banned_words.splitlines())
    )


def _public_key(pem: str) -> rsa.RSAPublicKey:
    """An agent's public key, parsed once per key: the PEM is the cache key, so a
    new key (re-onboarding, rotation) is simply another entry."""
    key = _PUBLIC_KEYS.get(pem)
    if key is None:
        if len(_PUBLIC_KEYS) >= _PUBLIC_KEY_CACHE:
            _PUBLIC_KEYS.clear()
        key = _PUBLIC_KEYS[pem] = public_key_from_pem(pem)
    return key


#: Parsed agent public keys by PEM; bounded (a few per agent ever registered).
_PUBLIC_KEY_CACHE = 1024
_PUBLIC_KEYS: dict[str, rsa.RSAPublicKey] = {}


def _assign(sessions: sessionmaker[Session], tenant_id: str, request_id: str, agent: str) -> None:
    """The first agent did not take the envelope: the record names the next one."""
    with sessions() as db, db.begin():
        record = db.get(OperationRecord, (tenant_id, request_id))
        if record is not None:
            record.agent_id = agent


def record_success(db: Session, tenant_id: str, result: WritebackResult) -> None:
    """Record a success in the caller's transaction (``records_success``): one
    transaction less on the way back. Should the caller never get there, the
    request stays in doubt (module doc), which is safe."""
    if result.outcome is not Outcome.OK:
        raise ValueError(f"not a success: {result.outcome}")
    _store(db, tenant_id, result, result.agent_id)


def _record(
    sessions: sessionmaker[Session],
    tenant_id: str,
    result: WritebackResult,
    agent_id: str | None,
    companion: Companion | None = None,
) -> None:
    with sessions() as db, db.begin():
        _store(db, tenant_id, result, agent_id)
        if companion is not None:
            companion.ended(db, result)


def _store(db: Session, tenant_id: str, result: WritebackResult, agent_id: str | None) -> None:
    """The outcome on the request's record (none: nothing to do)."""
    db.execute(
        _FINISH,
        {
            "tenant": tenant_id,
            "request": result.request_id,
            "set_outcome": result.outcome.value,
            "set_agent": agent_id,
            "set_event": result.event_id or None,
            "set_detail": json.dumps(result.detail, sort_keys=True),
            "set_finished": utcnow(),
        },
    )


_FINISH = (
    update(OperationRecord)
    .where(
        OperationRecord.tenant_id == bindparam("tenant"),
        OperationRecord.request_id == bindparam("request"),
    )
    .values(
        outcome=bindparam("set_outcome"),
        agent_id=bindparam("set_agent"),
        event_id=bindparam("set_event"),
        detail_json=bindparam("set_detail"),
        finished_at=bindparam("set_finished"),
    )
    .execution_options(synchronize_session=False)
)


def _log(operation: Operation, tenant_id: str, user: str | UserId, result: WritebackResult) -> None:
    # The full record of the support code (E2); never the password (S7).
    level = logging.INFO if result.outcome is Outcome.OK else logging.WARNING
    logger.log(
        level,
        "writeback: %s of %r in tenant %s: %s (request %s, agent %s, event %s, support code %s)",
        operation.value,
        str(user),
        tenant_id,
        result.outcome.value,
        result.request_id,
        result.agent_id,
        result.event_id,
        result.support_code,
        extra={
            "operation": operation.value,
            "tenant_id": tenant_id,
            "user": str(user),
            "outcome": result.outcome.value,
            "request_id": result.request_id,
            "agent_id": result.agent_id,
            "event_id": result.event_id,
            "support_code": result.support_code,
            "replayed": result.replayed,
        },
    )
