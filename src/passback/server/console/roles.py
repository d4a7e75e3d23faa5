"""The roles of a tenant's administrators and what each may do (SPEC U1).
A deployment's *operator* is not a role: it manages tenants
from the command line and the API only.

==================  =========================================================
``tenant_admin``    everything of its tenant
``helpdesk``        search people, reset, unlock, require a change, lift a
                    block, look up a support code — nothing else
``reports``         read the dashboard's activity and the reports
==================  =========================================================

Every administrator holds API tokens of their own, which act with their role.
"""

from __future__ import annotations

import enum

from passback.server.i18n.translations import N_


class Role(enum.StrEnum):
    TENANT_ADMIN = "tenant_admin"
    HELPDESK = "helpdesk"
    REPORTS = "reports"


class Permission(enum.StrEnum):
    DASHBOARD = "dashboard"
    PEOPLE = "people"  # search and read users
    ACT_ON_PEOPLE = "act_on_people"  # reset, unlock, require change, lift a block
    SUPPORT = "support"  # support code lookup (E2)
    AGENTS = "agents"
    ADMINS = "admins"
    POLICY = "policy"
    REPORTS = "reports"
    TOKENS = "tokens"  # one's own API tokens (a tenant administrator: all of them)
    ASSIGN = "assign"  # give or take a user's self-service assignment (E1)


ROLE_NAMES = {
    Role.TENANT_ADMIN: N_("Tenant administrator"),
    Role.HELPDESK: N_("Helpdesk"),
    Role.REPORTS: N_("Reports reader"),
}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.TENANT_ADMIN: frozenset(Permission),
    Role.HELPDESK: frozenset(
        {Permission.PEOPLE, Permission.ACT_ON_PEOPLE, Permission.SUPPORT, Permission.TOKENS}
    ),
    Role.REPORTS: frozenset({Permission.DASHBOARD, Permission.REPORTS, Permission.TOKENS}),
}

#: The console's sections in the order of its menu: each role lands on the
#: first one it may see.
SECTIONS: tuple[Permission, ...] = (
    Permission.DASHBOARD,
    Permission.PEOPLE,
    Permission.AGENTS,
    Permission.REPORTS,
    Permission.SUPPORT,
    Permission.POLICY,
    Permission.ADMINS,
    Permission.TOKENS,
)


def may(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def home(role: Role) -> Permission:
    """The first section of the menu that ``role`` may see."""
    return next(section for section in SECTIONS if may(role, section))
