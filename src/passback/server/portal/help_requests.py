"""Whether a help request (SPEC G5) may be mailed to a tenant's
administrators.

Strangers can type anyone's username, so the mails are capped: per account
(the administrators learn of an account's trouble without a flood) and per
tenant (a list of usernames cannot flood their mailbox). Each cap keeps a
share per client address, so that a flood from one address leaves the
owner's own request its mail; and a request past the caps is still in the
audit log, which the console's reports list, so none is lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passback.server.store.models import PortalFlow

#: Help mails one account may send the administrators in a window …
MAX_PER_ACCOUNT = 3
#: … of which requests from one client address send this many.
MAX_PER_ACCOUNT_CLIENT = 1
#: Help mails a tenant's administrators get in a window from all accounts …
MAX_PER_TENANT = 50
#: … of which requests from one client address send this many.
MAX_PER_TENANT_CLIENT = 10
WINDOW = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Asked:
    """Help mails of the window, the one being asked for included when it
    may go."""

    account: int
    tenant: int
    #: None: the request is mailed; else which cap holds it back.
    held: str | None

    @property
    def last_for_account(self) -> bool:
        return self.held is None and self.account == MAX_PER_ACCOUNT

    @property
    def last_for_tenant(self) -> bool:
        return self.held is None and self.tenant == MAX_PER_TENANT


def ask(db: Session, row: PortalFlow, now: dt.datetime) -> Asked:
    """Whether the help request of ``row`` may be mailed now (never for a
    username that matched nobody), within the caps on the mails that went in
    the window (those held back do not count: a stranger's flood cannot use
    up the owner's share); if it may, it is marked as mailed."""

    def mailed(*where: object) -> int:
        found = db.scalar(
            select(func.count()).where(
                PortalFlow.tenant_id == row.tenant_id,
                PortalFlow.help_mailed_at > now - WINDOW,
                *where,  # type: ignore[arg-type]
            )
        )
        return int(found or 0)

    client = PortalFlow.client_hash == (row.client_hash or "")
    account = PortalFlow.user_id == (row.user_id or "")
    counts = {
        "account": (mailed(account), MAX_PER_ACCOUNT),
        "account_address": (mailed(account, client), MAX_PER_ACCOUNT_CLIENT),
        "tenant": (mailed(), MAX_PER_TENANT),
        "tenant_address": (mailed(client), MAX_PER_TENANT_CLIENT),
    }
    held = next((f"no: {name} cap" for name, (n, cap) in counts.items() if n >= cap), None)
    if row.user_id is None:  # counted all the same (T2), and mailed to no one
        held = "no: no account"
    if held is None:
        row.help_mailed_at = now
    going = 0 if held else 1
    return Asked(counts["account"][0] + going, counts["tenant"][0] + going, held)
