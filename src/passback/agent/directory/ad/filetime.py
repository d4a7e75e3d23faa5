"""Active Directory's time values: FILETIMEs and negative intervals (MS-ADTS 3.1.1.4.5)."""

from __future__ import annotations

import datetime

#: Samba and AD store "never" (e.g. maxPwdAge with no expiry) as the smallest int64.
NEVER = -(2**63)
_TICKS_PER_SECOND = 10_000_000
_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)


def filetime_to_datetime(filetime: int) -> datetime.datetime:
    """A FILETIME (100-ns ticks since 1601-01-01 UTC) as an aware datetime."""
    return _FILETIME_EPOCH + datetime.timedelta(microseconds=filetime // 10)


def interval_seconds(value: int) -> int:
    """An interval attribute (minPwdAge, msDS-MaximumPasswordAge, …) in seconds.

    AD stores intervals as negative counts of 100 ns; 0 and :data:`NEVER` both
    mean "no limit" and give 0.
    """
    if value == NEVER:
        return 0
    return abs(value) // _TICKS_PER_SECOND
