"""Finding a synced user of a tenant by what a caller knows of them."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Select, and_, bindparam, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from passback.protocol.outcomes import Outcome
from passback.server.errors import Conflict, NotFound
from passback.server.outcomes import describe
from passback.server.store.models import DirectoryUser, name_key

#: Longest username (sAMAccountName or UPN) a caller may type; the support
#: records keep a typed one in a column this wide.
MAX_USERNAME = 256
#: Users a page of a listing holds (``pages_of_users``).
PAGE = 1000


#: Users of a tenant whose server id, sAMAccountName or UPN (any case) is the
#: name given. Each alternative names the tenant, so that each is one index
#: search (the primary key, ``ix_directory_users_sam_key``, ``…_upn_key``): a
#: look-up costs the same at 10 users and at 100,000. Built once: building
#: it took longer than running it.
_NAMED = select(DirectoryUser).where(
    or_(
        and_(
            DirectoryUser.tenant_id == bindparam("tenant_id"),
            DirectoryUser.id == bindparam("user"),
        ),
        and_(
            DirectoryUser.tenant_id == bindparam("tenant_id"),
            DirectoryUser.sam_key == bindparam("key"),
        ),
        and_(
            DirectoryUser.tenant_id == bindparam("tenant_id"),
            DirectoryUser.upn_key == bindparam("key"),
        ),
    )
)
_TWO_NAMED = _NAMED.limit(2)


def find_user(tenant_id: str, user: str) -> Select[DirectoryUser]:
    """Users of the tenant whose server id, sAMAccountName or UPN (any case) is ``user``."""
    return _NAMED.params(_named(tenant_id, user))


def users_named(db: Session, tenant_id: str, user: str) -> list[DirectoryUser]:
    """At most two users of the tenant that ``user`` names (:func:`find_user`):
    one is the user, two mean the name is not enough."""
    return list(db.scalars(_TWO_NAMED, _named(tenant_id, user)))


def _named(tenant_id: str, user: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "user": user, "key": name_key(user)}


def one_user(db: Session, tenant_id: str, user: str) -> DirectoryUser:
    """The one synced user of the tenant that ``user`` names (see :func:`find_user`).

    Raises:
        NotFound: nobody (``user_not_found``).
        Conflict: more than one (``multiple_matches``): use the user's id.
    """
    found = users_named(db, tenant_id, user)
    if not found:
        raise NotFound(describe(Outcome.USER_NOT_FOUND)[1], code=Outcome.USER_NOT_FOUND.value)
    if len(found) > 1:
        raise Conflict(
            "More than one synced user matches this name; use the user's id.",
            code=Outcome.MULTIPLE_MATCHES.value,
        )
    return found[0]


def pages_of_users(
    sessions: sessionmaker[Session], tenant_id: str, size: int = PAGE
) -> Iterator[list[DirectoryUser]]:
    """Every user of the tenant in name order (any case), ``size`` at a time.

    Each page is read in a short transaction of its own, after the last name
    of the one before (by the index on names), so that a slow reader holds
    no transaction and memory holds one page. A user synced or removed while
    the pages are read may be in them or not, as at any other moment.
    """
    after: tuple[str, str] | None = None
    while True:
        query = select(DirectoryUser).where(DirectoryUser.tenant_id == tenant_id)
        if after is not None:
            query = query.where(tuple_(DirectoryUser.sam_key, DirectoryUser.id) > tuple_(*after))
        with sessions() as db:
            page = list(
                db.scalars(query.order_by(DirectoryUser.sam_key, DirectoryUser.id).limit(size))
            )
        if page:
            yield page
        if len(page) < size:
            return
        after = (page[-1].sam_key, page[-1].id)


def canonical_name(username: str) -> str:
    """A typed username reduced to what names one person whichever form was
    typed (``alice``, ``Alice@Contoso.com``, ``CONTOSO\\alice`` → ``alice``):
    what counts and chooses by the name typed use it, so that the forms of a
    known account and of an unknown name behave alike (T2)."""
    name = " ".join(username.casefold().split())
    name = name.rpartition("\\")[2]
    return name.partition("@")[0] or name
