"""The use-cases of the Administrators section (SPEC U1), for the console's
pages and the JSON API alike: invite an administrator, disable one, enable
one again, give one a new set-up link. Each is one transaction and one audit
event naming who acted (``admin_actions.Acting``).

A set-up link's token is returned once, to be shown once; the store keeps
only its hash (``admins.invite``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from passback.server import audit
from passback.server.admin_actions import Acting, record_admin_event
from passback.server.console import admins
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Role
from passback.server.i18n.translations import N_
from passback.server.services import Services
from passback.server.store.models import utcnow

Action = Literal["disable", "enable", "setup-link"]
ACTIONS: tuple[Action, ...] = ("disable", "enable", "setup-link")

#: How G9's mail says who reset an administrator's console password with a
#: new set-up link: another administrator (in the console or with their own
#: API token), or the tenant's own API token, which is nobody's.
BY_ADMIN = N_("by another administrator, who gave them a new set-up link")
BY_API_TOKEN = N_(
    "through the API with your organisation's own token, which gave them a new set-up link"
)


@dataclasses.dataclass(frozen=True)
class Changed:
    """An administrator after a change, and whom G9 tells of a new set-up link."""

    name: str
    email: str
    #: The new set-up link's invitation (``setup-link``), else None.
    invitation: admins.Invitation | None
    told: admins.Recipients


def told_how(acting: Acting) -> str:
    """The words of G9's mail for a new set-up link given by ``acting``."""
    return BY_ADMIN if acting.admin_id else BY_API_TOKEN


def role_of(text: str) -> Role:
    """Raises ConsoleError ``invalid_role``: not one of ``Role``'s values."""
    try:
        return Role(text)
    except ValueError:
        raise ConsoleError(
            "invalid_role", N_("Choose a role from the list."), field="role"
        ) from None


def invite(
    services: Services, acting: Acting, *, email: str, name: str, role: Role
) -> admins.Invitation:
    """A set-up link for a new administrator (``admins.invite``), audited.

    Raises:
        ConsoleError: ``invalid_email``, ``invalid_name``, ``admin_exists`` (409).
    """
    now = utcnow()
    with services.sessions() as db, db.begin():
        invitation = admins.invite(
            db,
            acting.tenant_id,
            email=email,
            name=name,
            role=role,
            invited_by=acting.admin_id,
            master=services.master_key,
            now=now,
        )
        record_admin_event(
            db, acting, audit.Activity.ADMIN_INVITE, now, invited=invitation.admin_id
        )
        return invitation


def change(services: Services, acting: Acting, admin_id: str, action: Action) -> Changed:
    """Disable, enable, or give a new set-up link (the password and the
    authenticator are set again from it; ``admins.new_setup``), audited.

    Raises:
        ConsoleError: ``admin_not_found`` (404: not of this tenant),
            ``own_account`` or ``last_admin`` (409).
    """
    now = utcnow()
    with services.sessions() as db, db.begin():
        row = admins.of_tenant(db, acting.tenant_id, admin_id)
        made = None
        if action == "setup-link":
            made = admins.new_setup(
                db, row, by=acting.admin_id, master=services.master_key, now=now
            )
        else:
            admins.set_disabled(db, row, by=acting.admin_id, disabled=action == "disable", now=now)
        record_admin_event(
            db, acting, audit.Activity.ADMIN_CHANGE, now, changed=row.id, action=action
        )
        # A new set-up link clears a password and an authenticator: every
        # administrator is told, whatever the policy says of resets (G7).
        told = admins.to_tell(db, acting.tenant_id, always=made is not None)
        return Changed(row.name, row.email, made, told)
