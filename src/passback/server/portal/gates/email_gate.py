"""The email gate (SPEC G1, T1, T2): an 8-digit code mailed to the directory's
address and the user's own, with a link that finds the flow on another
device. A flow of a tenant that allows nothing else starts here.

A username that matches nobody, or a user the code cannot reach, gets a
flow that looks the same and never passes (``flow.Blocked``); the mail goes
out after the answer, within the user's code caps. Past the caps, a link
mail may go instead (``flow.new_link_flow``), also after the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from passback.policy.gates import Method
from passback.server import support
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify import MailError, MailMessage
from passback.server.portal import flow, registrations
from passback.server.portal.code_mail import code_mail
from passback.server.portal.codes import Hasher
from passback.server.portal.gates.base import (
    Answer,
    Armed,
    At,
    Deliver,
    Desk,
    Gate,
    Tenant,
    block_flow,
    sent_code_matches,
)
from passback.server.store.models import DirectoryUser, PortalFlow

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Sending:
    """An email gate just set up: what sending its code needs."""

    key: str
    code: str = dataclasses.field(repr=False)
    blocked: str | None
    user: DirectoryUser | None
    link: str = dataclasses.field(repr=False, default="")
    #: Where the code goes: the directory's mail and the user's own address.
    to: tuple[str, ...] = ()


class EmailGate(Gate):
    method = Method.EMAIL
    chosen = N_("If the account exists and has an email address, we sent it a code.")

    def arm(self, at: At, language: str) -> Armed:
        return _mail(at, language, flow.arm_email)

    def again(self, at: At, language: str) -> Armed:
        """A new code and link; the old ones die."""
        return _mail(at, language, flow.send_again)

    def check(self, at: At, answer: Answer) -> bool:
        return sent_code_matches(at.desk, at.row, answer)


class _Move(Protocol):
    def __call__(
        self,
        flow: PortalFlow,
        hasher: Hasher,
        *,
        blocked: flow.Blocked | None,
        code_ttl: int,
        now: dt.datetime,
    ) -> tuple[str, str]: ...


def _mail(at: At, language: str, move: _Move) -> Armed:
    """Move the flow to a new code and link (``move``), mailed unless the
    user's caps or addresses hold it back; counted, and sent after the answer."""
    db, row = at.db, at.row
    user = db.get(DirectoryUser, row.user_id or "")
    blocked, to = held_back(db, at.tenant.id, user, row.client_hash or "", at.now)
    db.refresh(row)  # as it is now that this request holds the user's lock
    ttl = at.desk.services.settings.code_ttl
    code, link = move(row, at.desk.hasher, blocked=blocked, code_ttl=ttl, now=at.now)
    count_send(db, row, at.now)
    sending = Sending(row.id_hash, code, row.blocked, user, link, to)
    username = user.sam_account_name if user else ""
    return Armed(deliver=delivery(at.desk, at.tenant, sending, username, language))


def held_back(
    db: Session,
    tenant_id: str,
    user: DirectoryUser | None,
    client_hash: str,
    now: dt.datetime,
    channel: str = "mail",
) -> tuple[flow.Blocked | None, tuple[str, ...]]:
    """Why an email gate for ``user`` cannot pass (no code is sent), if it
    cannot, and where its code goes. A username that matched nobody takes
    the same statements (on an id no row has), so that its answer takes
    the same time (T2)."""
    user_id = user.id if user is not None else ""
    _lock_user(db, user_id)
    limited = flow.mail_limit_reached(db, tenant_id, user_id, client_hash, now, channel)
    to = tuple(registrations.addresses(db, tenant_id, user))
    if user is None:
        return flow.Blocked.UNKNOWN_USER, to
    if not to and channel == "mail":  # a phone gate needs no mail, and keeps its cap
        return flow.Blocked.NO_MAIL, to
    return (flow.Blocked.MAIL_LIMIT if limited else None), to


def _lock_user(db: Session, user_id: str) -> None:
    """One start of a user at a time, so two cannot both pass a mail cap: a
    write to the user's row locks it (PostgreSQL) or takes the database's one
    write lock (SQLite) before the cap is read."""
    db.execute(
        update(DirectoryUser)
        .where(DirectoryUser.id == user_id)
        .values(id=DirectoryUser.id)
        .execution_options(synchronize_session=False)
    )


def count_send(db: Session, row: PortalFlow, now: dt.datetime) -> None:
    """Count the code mail an email gate just made, if it goes out; a flow of
    a username that matched nobody is counted the same way (on no user), so
    that a start takes the same store work either way (T2)."""
    if row.blocked in (None, flow.Blocked.UNKNOWN_USER.value):
        flow.record_send(db, row, "mail", now)


def delivery(
    desk: Desk, tenant: Tenant, sending: Sending, username: str, language: str
) -> Deliver | None:
    """What sends the email gate's code after the answer went out (or
    records why none is sent); None when there is nothing to do."""
    user = sending.user
    deliver = None
    if user is not None and sending.to and sending.blocked is None:
        t = Translator.for_locale(desk.catalogs, language)
        messages = [
            code_mail(
                t,
                to=address,
                code=sending.code,
                minutes=desk.services.settings.code_ttl // 60,
                tenant_name=tenant.name,
                link=_link(desk, tenant, sending.link),
            )
            for address in sending.to
        ]
        user_id = user.id

        async def deliver() -> None:
            await _deliver(desk, tenant, sending.key, user_id, messages)

    elif user is not None and sending.blocked == flow.Blocked.MAIL_LIMIT:
        # The answer is the same (T2). A link mail goes if one is due;
        # support learns when nothing went, and why.
        linkable = bool(sending.to and desk.services.settings.public_url)
        incident = _held_back(tenant, user, username, channel="mail" if sending.to else "phone")
        t = Translator.for_locale(desk.catalogs, language)
        user_id = user.id

        async def deliver() -> None:
            new = None
            if linkable:
                new = await asyncio.to_thread(_link_flow, desk, sending.key, user_id)
            if new is None:
                await asyncio.to_thread(support.record, desk.services.sessions, incident)
                return
            messages = [
                code_mail(
                    t,
                    to=address,
                    code=new.code,
                    minutes=_minutes(new.row),
                    tenant_name=tenant.name,
                    link=_link(desk, tenant, new.link),
                    link_only=True,
                )
                for address in sending.to
            ]
            await _deliver(desk, tenant, new.row.id_hash, user_id, messages)

    return deliver


def _held_back(
    tenant: Tenant, user: DirectoryUser, username: str, *, channel: str
) -> support.Incident:
    """The support record of a code message the caps held back (T1)."""
    caps = (
        f"T1: at most {flow.MAX_MAILS_PER_USER} code messages of each channel per user "
        f"per hour, {flow.MAX_MAILS_PER_USER_PER_CLIENT} for starts from one address, "
        f"{flow.MAX_SENDS_PER_FLOW} per flow"
    )
    if channel == "mail":
        why = (
            "no code was sent: the user, or the flow, had their code mails for this hour; "
            "and no link mail went: one went less than "
            f"{flow.LINK_MAIL_INTERVAL.seconds // 60} minutes ago, or the server has no "
            "public URL (--public-url) to link to"
        )
        caps += "; past them, a link mail goes at most every " + (
            f"{flow.LINK_MAIL_INTERVAL.seconds // 60} minutes per user"
        )
    else:
        why = "no code was sent: the user, or the flow, had their phone codes for this hour"
    return support.Incident(
        "mail_limit",
        429,
        why,
        method="POST",
        tenant_id=tenant.id,
        user_id=user.id,
        username=username,
        note=caps,
    )


def _link_flow(desk: Desk, start_key: str, user_id: str) -> flow.NewFlow | None:
    """The flow of a link mail for ``start_key``, a flow past the code caps,
    stored and counted; None when no link mail is due (T1)."""
    now = desk.now()
    with desk.services.sessions() as db, db.begin():
        _lock_user(db, user_id)
        start = db.get(PortalFlow, start_key)
        if start is None or not flow.link_mail_due(db, start.tenant_id, user_id, now):
            return None
        new = flow.new_link_flow(
            desk.hasher, start, code_ttl=desk.services.settings.code_ttl, now=now
        )
        db.add(new.row)
        flow.record_send(db, new.row, flow.LINK_CHANNEL, now)
    return new


def _minutes(row: PortalFlow) -> int:
    return int((row.expires_at - row.created_at).total_seconds()) // 60


async def _deliver(
    desk: Desk, tenant: Tenant, key: str, user_id: str, messages: list[MailMessage]
) -> None:
    """Send the code to every address; the code step cannot pass only when
    none of them took it (one rejected mailbox leaves the other's code good)."""
    if desk.mailer is None:  # check_available let the flow start: cannot be
        raise RuntimeError("the portal has no mailer")
    failures = []
    for message in messages:
        try:
            await desk.mailer.send(message)
        except MailError as exc:
            logger.warning("portal: a code mail for user %s failed: %s", user_id, exc)
            failures.append(str(exc))
    for failure in failures:
        incident = support.Incident(
            "mail_failed",
            502,
            failure,
            method="SMTP",
            tenant_id=tenant.id,
            user_id=user_id,
            note="the one-time code could not be sent to one of the user's addresses",
        )
        await asyncio.to_thread(support.record, desk.services.sessions, incident)
    if failures and len(failures) == len(messages):
        await asyncio.to_thread(block_flow, desk, key, flow.Blocked.MAIL_FAILED)


def _link(desk: Desk, tenant: Tenant, link: str) -> str | None:
    """The code mail's link: it finds the flow on any device (the phone
    that got the mail), where the code is typed as usual."""
    base = desk.services.settings.public_url
    return f"{base.rstrip('/')}/portal/{tenant.slug}/code/{link}" if base else None
