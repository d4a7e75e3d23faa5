"""What an agent can do beyond protocol version 1, announced in its ``hello``.

Version 1 stays the wire format; a feature is something a newer agent does
that an older one would refuse or not answer. The server sends an operation
that needs a feature only to an agent that announced it, and tells the
caller plainly when every connected agent is too old. An agent may announce
names the server does not know (a newer agent): the server ignores them.
"""

from __future__ import annotations

import enum


class Feature(enum.StrEnum):
    #: The envelope's flag bit 1: "must change at next logon" in the same
    #: write as an administrator's reset.
    MUST_CHANGE = "must_change"
    #: ``Operation.STATUS``: the account's state read from the directory.
    ACCOUNT_STATUS = "account_status"
    #: ``sync_batch.groups`` and each user's ``groups`` (the scope, G6).
    GROUPS = "groups"
    #: The envelope's flag bit 2: a verify from the owner's own browser, for
    #: which the agent keeps no lockout reserve (U4).
    OWNER = "owner"


#: What this version of the agent announces.
ALL = tuple(Feature)
