"""Security identifiers and the well-known protected ones (SPEC W5).

Samba has no SDProp, so ``adminCount`` alone cannot be trusted there: membership
in a protected group is checked from the user's ``tokenGroups`` (every group,
nested, that ends up in the user's token). List after MS-ADTS 3.1.1.6.1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

#: Builtin groups whose members AdminSDHolder protects.
PROTECTED_BUILTIN = frozenset(
    {
        "S-1-5-32-544",  # Administrators
        "S-1-5-32-548",  # Account Operators
        "S-1-5-32-549",  # Server Operators
        "S-1-5-32-550",  # Print Operators
        "S-1-5-32-551",  # Backup Operators
        "S-1-5-32-552",  # Replicator
    }
)

#: Relative ids, under the domain SID, of protected groups and accounts.
PROTECTED_DOMAIN_RIDS = frozenset(
    {
        500,  # Administrator
        502,  # krbtgt
        512,  # Domain Admins
        516,  # Domain Controllers
        518,  # Schema Admins
        519,  # Enterprise Admins
        521,  # Read-only Domain Controllers
        526,  # Key Admins
        527,  # Enterprise Key Admins
    }
)


def sid_to_str(raw: bytes) -> str:
    """The ``S-1-…`` form of a binary SID (MS-DTYP 2.4.2.2)."""
    if len(raw) < 8:
        raise ValueError("a SID has at least 8 bytes")
    revision, count = raw[0], raw[1]
    if len(raw) != 8 + 4 * count:
        raise ValueError("SID length does not match its sub-authority count")
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:])
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def domain_of(sid: str) -> str:
    """The domain part of an account SID (the SID without its last RID)."""
    return sid.rsplit("-", 1)[0]


def protected_sids(domain_sid: str) -> frozenset[str]:
    return PROTECTED_BUILTIN | {f"{domain_sid}-{rid}" for rid in PROTECTED_DOMAIN_RIDS}


def is_protected(user_sid: str, token_groups: Iterable[str], *, admin_count: int) -> bool:
    """Whether writeback must refuse this account (W5)."""
    if admin_count == 1:
        return True
    protected = protected_sids(domain_of(user_sid))
    return user_sid in protected or not protected.isdisjoint(token_groups)
