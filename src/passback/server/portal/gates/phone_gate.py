"""The phone gates (SPEC G1, G3, G4, T1): a code by text message to the
mobile phone, or read out in a voice call to the mobile or office phone. One
class, by the method (its channel and the number on file it uses).

The gate first asks for the number on file in full, with its country code;
the right one sends the code, a wrong one sends nothing, and 5 within an
hour block phone gates for the username as typed from that address
(``blocks.Scope.PHONE``). A user with no number on file, or an unknown
username, gets the answer of a wrong number (T2).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging

from sqlalchemy.orm import Session

from passback.policy.gates import Method
from passback.server import audit, phones, support
from passback.server.gate_policies import gate_policy
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_
from passback.server.notify.phone import PhoneError, PhoneMessage
from passback.server.portal import blocks, flow, registrations
from passback.server.portal.code_phone import channel_of, code_message
from passback.server.portal.errors import FlowRefused, PortalError, refusal_error
from passback.server.portal.gates import email_gate
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
    subject,
)
from passback.server.store.models import DirectoryUser, PortalFlow

logger = logging.getLogger(__name__)

PHONE_BLOCKED = N_(
    "Too many numbers typed that are not the one on file: phone codes for this account are "
    "blocked from your network until %(until)s. Choose another way, or contact your "
    "administrator."
)
WRONG_NUMBER = N_(
    "This is not the number on file for you. Type the whole number, with the country code."
)


class PhoneGate(Gate):
    scope = blocks.Scope.PHONE
    chosen = N_("Type the phone number on file in full, with the country code.")

    def __init__(self, method: Method) -> None:
        if not method.phone:
            raise ValueError(f"{method} is not a phone method")
        self.method = method

    def serviceable(self, desk: Desk) -> bool:
        """A provider with the method's channel is configured."""
        return desk.phone is not None and channel_of(self.method) in desk.phone.channels

    def target(self, row: PortalFlow) -> str | None:
        """The last two digits of the number the code went to (the user
        typed it in full just before)."""
        try:
            found = json.loads(row.challenge or "{}")
        except ValueError:
            return None
        ending = found.get("ending") if isinstance(found, dict) else None
        return ending if isinstance(ending, str) else None

    def arm(self, at: At, language: str) -> Armed:
        """The number step first: nothing is sent yet."""
        row = at.row
        who = row.who_hash or row.id_hash
        until = blocks.active(at.db, at.tenant.id, who, blocks.Scope.PHONE, at.now, row.client_hash)
        if until is not None:
            raise _blocked(until, row)
        ttl = at.desk.services.settings.code_ttl
        flow.arm_number(row, self.method.value, code_ttl=ttl, now=at.now)
        return Armed(flow.Step.NUMBER, "number")

    def again(self, at: At, language: str) -> Armed:
        """Back to the number, to send there again."""
        flow.back_to_number(at.row, code_ttl=at.desk.services.settings.code_ttl, now=at.now)
        return Armed(flow.Step.NUMBER, "number")

    def enter_number(self, at: At, typed: str, language: str) -> Armed | PortalError:
        db, desk, tenant, row, now = at.db, at.desk, at.tenant, at.row, at.now
        policy = gate_policy(db, tenant.id)
        # G4: the whole number, with its country code (the tenant's region
        # reads only the directory's numbers).
        number = phones.e164(typed) if typed.startswith("+") else None
        if number is None:
            return PortalError(
                "invalid_number",
                N_("Type the whole number, with the country code, for example +55 11 91234 5678."),
                field="number",
            )
        # Counted per username as typed (per address): two names of one
        # account do not add up, so the block tells nothing of accounts (T2).
        who, client = row.who_hash or row.id_hash, row.client_hash or ""
        until = blocks.active(db, tenant.id, who, blocks.Scope.PHONE, now, client)
        if until is not None:
            return _blocked(until, row)
        user = db.get(DirectoryUser, row.user_id or "")
        numbers = registrations.phone_numbers(db, tenant.id, user, self.method, policy.phone_region)
        # Each number on file is compared, in constant time, the same work for all.
        hits = [n for n in numbers if hmac.compare_digest(n, number)]
        on_file = hits[0] if hits else None
        audit.record(
            db,
            tenant_id=tenant.id,
            user_id=row.user_id,
            activity=audit.Activity.GATE,
            success=on_file is not None,
            at=now,
            method=self.method.value,
            subject=subject(row),
            check="number",
        )
        if on_file is None:
            return _miss_number(db, tenant.id, row, who, client, now)
        assert user is not None  # a number on file matched
        blocked, _ = email_gate.held_back(db, tenant.id, user, client, now, "phone")
        db.refresh(row)  # as it is now that this request holds the user's lock
        try:
            code = flow.arm_phone_code(
                row,
                desk.hasher,
                blocked=blocked,
                ending=on_file[-2:],
                code_ttl=desk.services.settings.code_ttl,
                now=now,
            )
        except FlowRefused as refused:
            return refusal_error(refused)
        if row.blocked is None:
            flow.record_send(db, row, "phone", now)
        return Armed(deliver=self._delivery(desk, tenant, row, user, code, on_file, language))

    def _delivery(
        self,
        desk: Desk,
        tenant: Tenant,
        row: PortalFlow,
        user: DirectoryUser,
        code: str,
        number: str,
        language: str,
    ) -> Deliver | None:
        if row.blocked is not None:  # support learns why, as for a mail
            sending = email_gate.Sending(row.id_hash, code, row.blocked, user)
            return email_gate.delivery(desk, tenant, sending, user.sam_account_name, language)
        message = code_message(
            Translator.for_locale(desk.catalogs, language),
            method=self.method,
            to=number,
            code=code,
            minutes=desk.services.settings.code_ttl // 60,
            tenant_name=tenant.name,
        )
        key, user_id = row.id_hash, user.id

        async def send() -> None:
            await _send(desk, tenant, key, user_id, message)

        return send

    def check(self, at: At, answer: Answer) -> bool:
        return sent_code_matches(at.desk, at.row, answer)


def _blocked(until: dt.datetime, row: PortalFlow) -> PortalError:
    return PortalError(
        "phone_blocked",
        PHONE_BLOCKED,
        values={"until": until},
        user_id=row.user_id,
        note="T1/G4: 5 wrong numbers for this account from this address within an hour",
    )


def _miss_number(
    db: Session, tenant_id: str, row: PortalFlow, who: str, client: str, now: dt.datetime
) -> PortalError:
    """Count a wrong number (T1) for the username as typed (``who``); the
    error to answer with."""
    flow.miss_number(db, row.id_hash)
    if flow.number_misses(db, tenant_id, who, client, now) < blocks.MAX_NUMBER_MISSES:
        return PortalError("wrong_number", WRONG_NUMBER, field="number", user_id=row.user_id)
    until = blocks.block(db, tenant_id, who, blocks.Scope.PHONE, now, client, user_id=row.user_id)
    return _blocked(until, row)


async def _send(desk: Desk, tenant: Tenant, key: str, user_id: str, message: PhoneMessage) -> None:
    """Hand a phone gate's code to the provider; when it fails, the flow's
    code cannot pass and support learns why (E2)."""
    try:
        if desk.phone is None:
            raise PhoneError("no phone provider is configured")
        await desk.phone.send(message)
    except PhoneError as exc:
        logger.warning("portal: the code message for user %s failed: %s", user_id, exc)
        await asyncio.to_thread(block_flow, desk, key, flow.Blocked.PHONE_FAILED)
        incident = support.Incident(
            "phone_failed",
            502,
            str(exc),
            method=message.channel.value.upper(),
            tenant_id=tenant.id,
            user_id=user_id,
            note="the one-time code could not be sent by phone",
        )
        await asyncio.to_thread(support.record, desk.services.sessions, incident)
