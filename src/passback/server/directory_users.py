"""Finding a synced user of a tenant by what a caller knows of them."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select

from passback.server.store.models import DirectoryUser

#: Longest username (sAMAccountName or UPN) a caller may type; the support
#: records keep a typed one in a column this wide.
MAX_USERNAME = 256


def find_user(tenant_id: str, user: str) -> Select[DirectoryUser]:
    """Users of the tenant whose server id, sAMAccountName or UPN (any case) is ``user``."""
    name = user.lower()
    return select(DirectoryUser).where(
        DirectoryUser.tenant_id == tenant_id,
        or_(
            DirectoryUser.id == user,
            func.lower(DirectoryUser.sam_account_name) == name,
            func.lower(DirectoryUser.user_principal_name) == name,
        ),
    )
