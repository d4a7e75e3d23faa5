"""Messages of the relay link and their encoding.

Control messages are JSON objects in WebSocket text frames, with a ``type``
field. A password operation travels as a binary frame holding the sealed
envelope (``passback.crypto.envelope``) as it is, so that one request stays
under 1 KB (SPEC S8) without a base64 layer.

Decoding is strict: an unknown type, a missing or extra field, a field of the
wrong type, or text that is not valid Unicode (JSON's ``\\ud800`` escapes let a
lone surrogate through, which no database driver or encoder takes) is a
``BadFrame``. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, TypeAlias

from passback.protocol.errors import BadFrame, FrameTooLarge
from passback.protocol.outcomes import Outcome

PROTOCOL_VERSION = 1

#: Control messages are small; anything bigger is garbage or an attack.
MAX_CONTROL_FRAME = 4 * 1024
#: A sync batch carries up to MAX_SYNC_USERS users of a few hundred bytes each.
MAX_SYNC_FRAME = 256 * 1024
MAX_SYNC_USERS = 500
#: Groups a user is a member of (a Windows access token holds at most 1024
#: SIDs), and groups named in one batch.
MAX_USER_GROUPS = 1024
MAX_SYNC_GROUPS = 500
#: The longest security identifier (S-1-, an authority, 15 sub-authorities).
MAX_SID_TEXT = 184
#: A contact number as text (AD's range for ``mobile`` and ``telephoneNumber``).
MAX_PHONE_TEXT = 64
#: An operation frame is one sealed envelope; S8 wants it under 1 KB, and the
#: envelope of the longest password AD accepts fits (see crypto.envelope).
MAX_OPERATION_FRAME = 1024
#: Features an agent announces at most, and the longest name of one.
MAX_FEATURES = 32
MAX_FEATURE_NAME = 32
#: Longest agent id, tenant id, request id and name we accept on the wire.
MAX_ID_LENGTH = 64
MAX_SECRET_LENGTH = 128


def _check_str(name: str, value: Any, *, limit: int = MAX_ID_LENGTH, empty: bool = False) -> None:
    if not isinstance(value, str):
        raise BadFrame(f"{name} must be a string")
    if len(value) > limit or (not value and not empty):
        raise BadFrame(f"{name} has a bad length")
    if not value.isascii() and _has_surrogate(value):
        raise BadFrame(f"{name} is not valid Unicode text")


def _has_surrogate(value: str) -> bool:
    """Whether ``value`` holds a UTF-16 surrogate code point: text that no UTF
    encoding can carry (a pair decoded from JSON escapes becomes one character)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_int(name: str, value: Any) -> None:
    # bool is an int in Python; on the wire it is not.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadFrame(f"{name} must be a non-negative integer")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise BadFrame(f"{name} must be a boolean")


@dataclasses.dataclass(frozen=True)
class Hello:
    """Agent → hub, first message: who is calling and which protocol it speaks."""

    type: ClassVar[str] = "hello"
    version: int
    agent_id: str
    tenant_id: str
    software: str
    #: What it can do beyond version 1 (``protocol.features``); agents before
    #: them send none. Names this side does not know are kept, not refused.
    features: tuple[str, ...] = ()

    def validate(self) -> None:
        _check_int("version", self.version)
        _check_str("agent_id", self.agent_id)
        _check_str("tenant_id", self.tenant_id)
        _check_str("software", self.software, empty=True)
        if not isinstance(self.features, tuple) or len(self.features) > MAX_FEATURES:
            raise BadFrame(f"features must be a list of at most {MAX_FEATURES} names")
        for name in self.features:
            _check_str("feature", name, limit=MAX_FEATURE_NAME)


@dataclasses.dataclass(frozen=True)
class Auth:
    """Agent → hub, second message: the relay secret (TLS protects it; the hub
    keeps only its hash, SPEC S1)."""

    type: ClassVar[str] = "auth"
    secret: str

    def validate(self) -> None:
        _check_str("secret", self.secret, limit=MAX_SECRET_LENGTH)

    def __repr__(self) -> str:
        return "Auth(secret=<hidden>)"


@dataclasses.dataclass(frozen=True)
class Ready:
    """Hub → agent: authenticated; operations may flow."""

    type: ClassVar[str] = "ready"
    session_id: str
    heartbeat_interval: int  # seconds
    server_time: int  # unix seconds, so the agent can report clock skew

    def validate(self) -> None:
        _check_str("session_id", self.session_id)
        _check_int("heartbeat_interval", self.heartbeat_interval)
        _check_int("server_time", self.server_time)


@dataclasses.dataclass(frozen=True)
class Result:
    """Agent → hub: how one operation ended (SPEC W1)."""

    type: ClassVar[str] = "result"
    request_id: str
    outcome: Outcome
    detail: dict[str, int | str] = dataclasses.field(default_factory=dict)
    event_id: int = 0  # the agent event that records it (E3); 0 = none
    replayed: bool = False  # answered from the agent's journal, not applied again

    def validate(self) -> None:
        _check_str("request_id", self.request_id)
        if not isinstance(self.outcome, Outcome):
            raise BadFrame("outcome is unknown")
        if not isinstance(self.detail, dict) or len(self.detail) > 8:
            raise BadFrame("detail must be a small object")
        for key, value in self.detail.items():
            _check_str("detail key", key)
            if isinstance(value, str):
                _check_str("detail value", value, empty=True)
            else:
                _check_int("detail value", value)
        _check_int("event_id", self.event_id)
        _check_bool("replayed", self.replayed)


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """Agent → hub every few minutes: alive, with counters (no personal data)."""

    type: ClassVar[str] = "heartbeat"
    uptime: int
    operations: int
    failures: int
    agent_time: int
    history_on_reset: bool  # whether the directory enforces history on resets (W4)

    def validate(self) -> None:
        for name in ("uptime", "operations", "failures", "agent_time"):
            _check_int(name, getattr(self, name))
        _check_bool("history_on_reset", self.history_on_reset)


@dataclasses.dataclass(frozen=True)
class SyncRequest:
    """Hub → agent: send the users under your search base now."""

    type: ClassVar[str] = "sync_request"
    sync_id: str

    def validate(self) -> None:
        _check_str("sync_id", self.sync_id)


@dataclasses.dataclass(frozen=True)
class SyncUser:
    """One directory user as the server learns it. ``anchor`` is base64url."""

    anchor: str
    sam_account_name: str
    user_principal_name: str | None
    mail: str | None
    enabled: bool
    #: Contact numbers as the directory holds them (AD ``mobile`` and
    #: ``telephoneNumber``), free text; the server reads them as phone numbers
    #: (SPEC G3). Optional on the wire: agents before them send neither.
    mobile: str | None = None
    telephone: str | None = None
    #: SIDs of the security groups the user is a member of, nested membership
    #: included (AD ``tokenGroups``), for the self-service scope (G6). Agents
    #: before it send none.
    groups: tuple[str, ...] = ()

    def validate(self) -> None:
        _check_str("anchor", self.anchor)
        _check_sids(self.groups)
        _check_str("sam_account_name", self.sam_account_name, limit=256)
        for name in ("mobile", "telephone"):
            value = getattr(self, name)
            if value is not None:
                _check_str(name, value, limit=MAX_PHONE_TEXT)
        for name in ("user_principal_name", "mail"):
            value = getattr(self, name)
            if value is not None:
                _check_str(name, value, limit=1024)
        _check_bool("enabled", self.enabled)


def _check_sids(groups: Any) -> None:
    if not isinstance(groups, tuple) or len(groups) > MAX_USER_GROUPS:
        raise BadFrame("groups must be a list of at most 1024 SIDs")
    for sid in groups:
        _check_str("group", sid, limit=MAX_SID_TEXT)


@dataclasses.dataclass(frozen=True)
class SyncGroup:
    """A security group the scope may name (G6): its SID and its name."""

    sid: str
    name: str

    def validate(self) -> None:
        _check_str("sid", self.sid, limit=MAX_SID_TEXT)
        _check_str("name", self.name, limit=256)


@dataclasses.dataclass(frozen=True)
class SyncBatch:
    """Agent → hub: a batch of users. ``full`` batches replace what the server
    knows once the ``last`` one arrives; later issues add incremental kinds."""

    type: ClassVar[str] = "sync_batch"
    sync_id: str
    sequence: int
    full: bool
    last: bool
    users: tuple[SyncUser, ...]
    #: The directory's security groups; a full sync's batches carry them all
    #: (after its users). Agents before them send none.
    groups: tuple[SyncGroup, ...] = ()

    def validate(self) -> None:
        _check_str("sync_id", self.sync_id)
        _check_int("sequence", self.sequence)
        _check_bool("full", self.full)
        _check_bool("last", self.last)
        if len(self.users) > MAX_SYNC_USERS:
            raise BadFrame("too many users in one batch")
        if len(self.groups) > MAX_SYNC_GROUPS:
            raise BadFrame("too many groups in one batch")
        for user in self.users:
            user.validate()
        for group in self.groups:
            group.validate()


@dataclasses.dataclass(frozen=True)
class RulesRequest:
    """Hub → agent: which password rules apply to this user? (the domain
    policy, or the fine-grained one that applies to them)."""

    type: ClassVar[str] = "rules_request"
    request_id: str
    anchor: str  # base64url, as in sync

    def validate(self) -> None:
        _check_str("request_id", self.request_id)
        _check_str("anchor", self.anchor)


@dataclasses.dataclass(frozen=True)
class Rules:
    """Agent → hub: the rules for one user, or why they could not be read."""

    type: ClassVar[str] = "rules"
    request_id: str
    outcome: Outcome  # OK, or e.g. USER_NOT_FOUND / DIRECTORY_UNAVAILABLE
    source: str = ""  # "domain" or "pso:<name>"
    min_length: int = 0
    complexity: bool = False
    history_length: int = 0
    min_age: int = 0  # seconds
    max_age: int = 0  # seconds; 0 = never expires
    # What the directory does with a reset (W4); None: not said (agents before
    # these fields), which the server must treat as "cannot promise".
    history_on_reset: bool | None = None  # a reset is checked against the history
    max_length: int | None = None  # the longest password the directory takes
    policy_hints: bool | None = None  # resets carry AD's policy-hints control

    def validate(self) -> None:
        _check_str("request_id", self.request_id)
        if not isinstance(self.outcome, Outcome):
            raise BadFrame("outcome is unknown")
        _check_str("source", self.source, limit=256, empty=True)
        for name in ("min_length", "history_length", "min_age", "max_age"):
            _check_int(name, getattr(self, name))
        _check_bool("complexity", self.complexity)
        for name in ("history_on_reset", "policy_hints"):
            if getattr(self, name) is not None:
                _check_bool(name, getattr(self, name))
        if self.max_length is not None:
            _check_int("max_length", self.max_length)


ControlMessage: TypeAlias = (
    Hello | Auth | Ready | Result | Heartbeat | SyncRequest | SyncBatch | RulesRequest | Rules
)
#: What an agent sends back for a request id the hub is waiting on.
Reply: TypeAlias = Result | Rules

_TYPES: dict[str, type[ControlMessage]] = {
    cls.type: cls
    for cls in (
        Hello,
        Auth,
        Ready,
        Result,
        Heartbeat,
        SyncRequest,
        SyncBatch,
        RulesRequest,
        Rules,
    )
}


def encode(message: ControlMessage) -> str:
    """The text frame for a control message."""
    message.validate()
    body = dataclasses.asdict(message)
    return json.dumps({"type": message.type, **body}, separators=(",", ":"), ensure_ascii=False)


def decode(frame: str) -> ControlMessage:
    """Parse and validate a text frame.

    Raises:
        FrameTooLarge: over the bound for its kind.
        BadFrame: anything that is not a valid message of this protocol.
    """
    if len(frame) > MAX_SYNC_FRAME:
        raise FrameTooLarge(f"text frame of {len(frame)} characters")
    try:
        raw = json.loads(frame)
    except (ValueError, RecursionError) as exc:  # deep nesting is an attack, not a crash
        raise BadFrame("not JSON") from exc
    if not isinstance(raw, dict):
        raise BadFrame("not a JSON object")
    kind = raw.pop("type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadFrame("unknown message type")
    if len(frame) > MAX_CONTROL_FRAME and cls is not SyncBatch:
        raise FrameTooLarge(f"{kind} frame of {len(frame)} characters")
    message = _build(cls, raw)
    message.validate()
    return message


def _build(cls: type[ControlMessage], raw: dict[str, Any]) -> ControlMessage:
    names = {f.name for f in dataclasses.fields(cls)}
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    if not required <= raw.keys() or not raw.keys() <= names:
        raise BadFrame(f"{cls.type}: wrong fields")
    if cls is Result or cls is Rules:
        try:
            raw["outcome"] = Outcome(raw["outcome"])
        except (ValueError, TypeError) as exc:
            raise BadFrame("outcome is unknown") from exc
    if cls is Hello and "features" in raw:
        raw["features"] = tuple(_list(raw["features"], "features"))
    if cls is SyncBatch:
        users = _list(raw["users"], "users")
        raw["users"] = tuple(_build_user(u) for u in users)
        raw["groups"] = tuple(_build_group(g) for g in _list(raw.get("groups", []), "groups"))
    return cls(**raw)


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadFrame(f"{name} must be a list")
    return value


def _build_group(raw: Any) -> SyncGroup:
    if not isinstance(raw, dict) or raw.keys() != {"sid", "name"}:
        raise BadFrame("a group must be an object with sid and name")
    return SyncGroup(**raw)


def _build_user(raw: Any) -> SyncUser:
    if not isinstance(raw, dict):
        raise BadFrame("a user must be an object")
    names = {f.name for f in dataclasses.fields(SyncUser)}
    if not _REQUIRED_USER_FIELDS <= raw.keys() <= names:
        raise BadFrame("user: wrong fields")
    if "groups" in raw:
        raw["groups"] = tuple(_list(raw["groups"], "groups"))
    return SyncUser(**raw)


_REQUIRED_USER_FIELDS = frozenset(
    f.name for f in dataclasses.fields(SyncUser) if f.default is dataclasses.MISSING
)
