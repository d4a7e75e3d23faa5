"""passback.protocol.messages: the strict JSON codec of control messages (S8)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.protocol.errors import BadFrame, CloseCode, FrameTooLarge
from passback.protocol.features import ALL as ALL_FEATURES
from passback.protocol.features import Feature
from passback.protocol.messages import (
    MAX_CONTROL_FRAME,
    MAX_FEATURE_NAME,
    MAX_FEATURES,
    MAX_ID_LENGTH,
    MAX_PHONE_TEXT,
    MAX_SECRET_LENGTH,
    MAX_SID_TEXT,
    MAX_SYNC_FRAME,
    MAX_SYNC_GROUPS,
    MAX_SYNC_USERS,
    MAX_USER_GROUPS,
    Auth,
    ControlMessage,
    Heartbeat,
    Hello,
    Ready,
    Result,
    Rules,
    RulesRequest,
    SyncBatch,
    SyncGroup,
    SyncRequest,
    SyncUser,
    decode,
    encode,
)
from passback.protocol.outcomes import Outcome

USER = SyncUser("AAECAwQFBgcICQoLDA0ODw", "alice", "alice@example.test", None, True)

MESSAGES: list[ControlMessage] = [
    Hello(1, "agent-1", "tenant-1", "passback-agent/0.1"),
    Hello(1, "a" * MAX_ID_LENGTH, "t", ""),
    Auth("pbr_" + "s" * 40),
    Ready("session-1", 300, 1_700_000_000),
    Result("req-1", Outcome.OK),
    Result("req-2", Outcome.TOO_SHORT, {"min_length": 12, "source": "pso:admins"}, 33008, True),
    Heartbeat(uptime=10, operations=3, failures=1, agent_time=1_700_000_000, history_on_reset=True),
    SyncRequest("sync-1"),
    SyncBatch("sync-1", 0, True, False, ()),
    SyncBatch("sync-1", 3, True, True, (USER, SyncUser("Zm9v", "bob", None, None, False))),
    RulesRequest("req-3", "AAECAwQFBgcICQoLDA0ODw"),
    Rules("req-3", Outcome.OK, "pso:admins", 14, True, 24, 86400, 0),
    Rules("req-4", Outcome.USER_NOT_FOUND),
    Rules("req-5", Outcome.OK, "domain", 7, True, 24, 0, 0, False, 256, False),
]


def frame(**fields: Any) -> str:
    return json.dumps(fields)


def hello_fields(**changes: Any) -> dict[str, Any]:
    return {
        "type": "hello",
        "version": 1,
        "agent_id": "agent-1",
        "tenant_id": "tenant-1",
        "software": "x",
    } | changes


def result_fields(**changes: Any) -> dict[str, Any]:
    return {"type": "result", "request_id": "r", "outcome": "ok"} | changes


def user_fields(**changes: Any) -> dict[str, Any]:
    return dataclasses.asdict(USER) | changes


def batch_fields(**changes: Any) -> dict[str, Any]:
    return {
        "type": "sync_batch",
        "sync_id": "s",
        "sequence": 0,
        "full": True,
        "last": True,
        "users": [user_fields()],
    } | changes


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: ControlMessage) -> None:
    text = encode(message)
    assert json.loads(text)["type"] == message.type
    assert decode(text) == message


def test_result_defaults_are_optional_on_the_wire() -> None:
    assert decode(frame(**result_fields())) == Result("r", Outcome.OK, {}, 0, False)


def test_encode_is_compact_and_keeps_unicode() -> None:
    text = encode(SyncRequest("sync-ü"))
    assert text == '{"type":"sync_request","sync_id":"sync-ü"}'


def test_auth_repr_hides_the_secret() -> None:
    """S1: the relay secret never lands in a log line through repr."""
    secret = "pbr_TOPSECRETVALUE"
    assert secret not in repr(Auth(secret))
    assert "hidden" in repr(Auth(secret))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{",
        '{"type": "hello",}',
        "1" * 5000,  # an int past Python's digit limit is a ValueError too
    ],
)
def test_not_json(text: str) -> None:
    with pytest.raises(BadFrame) as info:
        decode(text)
    assert info.value.close_code is CloseCode.BAD_FRAME


@pytest.mark.parametrize("text", ["[]", '"hello"', "1", "null", "true"])
def test_not_an_object(text: str) -> None:
    with pytest.raises(BadFrame, match="not a JSON object"):
        decode(text)


@pytest.mark.parametrize(
    "fields",
    [{}, {"type": "bogus"}, {"type": 1}, {"type": None}, {"type": ["hello"]}, {"type": "Hello"}],
)
def test_unknown_type(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame, match="unknown message type"):
        decode(json.dumps(fields))


@pytest.mark.parametrize(
    "fields",
    [
        {k: v for k, v in hello_fields().items() if k != "software"},
        hello_fields(extra=1),
        {"type": "auth"},
        {"type": "auth", "secret": "s", "secret2": "s"},
        {"type": "ready", "session_id": "s", "heartbeat_interval": 1},
        {"type": "result", "outcome": "ok"},
        result_fields(reason="x"),
        {"type": "heartbeat", "uptime": 1},
        {"type": "sync_request"},
        {"type": "sync_request", "sync_id": "s", "type2": "x"},
        {k: v for k, v in batch_fields().items() if k != "users"},
    ],
)
def test_missing_or_extra_field(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame, match="wrong fields"):
        decode(json.dumps(fields))


@pytest.mark.parametrize(
    "fields",
    [
        hello_fields(version="1"),
        hello_fields(version=True),  # bool is an int in Python, not on the wire
        hello_fields(version=1.0),
        hello_fields(version=-1),
        hello_fields(version=None),
        hello_fields(agent_id=1),
        hello_fields(agent_id=""),
        hello_fields(agent_id="a" * (MAX_ID_LENGTH + 1)),
        hello_fields(tenant_id=""),
        hello_fields(tenant_id="t" * (MAX_ID_LENGTH + 1)),
        hello_fields(software=None),
        hello_fields(software="s" * (MAX_ID_LENGTH + 1)),
        {"type": "auth", "secret": ""},
        {"type": "auth", "secret": "s" * (MAX_SECRET_LENGTH + 1)},
        {"type": "auth", "secret": 12345},
        {"type": "ready", "session_id": "s", "heartbeat_interval": False, "server_time": 1},
        {"type": "ready", "session_id": "s", "heartbeat_interval": 1, "server_time": -5},
        {"type": "ready", "session_id": "", "heartbeat_interval": 1, "server_time": 1},
        result_fields(request_id=""),
        result_fields(request_id="r" * (MAX_ID_LENGTH + 1)),
        result_fields(event_id=True),
        result_fields(event_id=-1),
        result_fields(replayed=1),
        result_fields(replayed="true"),
        {"type": "sync_request", "sync_id": ""},
        {"type": "sync_request", "sync_id": 7},
        batch_fields(sequence=-1),
        batch_fields(sequence=False),
        batch_fields(full=1),
        batch_fields(last=None),
        batch_fields(sync_id="s" * (MAX_ID_LENGTH + 1)),
    ],
)
def test_wrong_type_or_bound(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame):
        decode(json.dumps(fields))


@pytest.mark.parametrize("name", ["uptime", "operations", "failures", "agent_time"])
@pytest.mark.parametrize("value", [-1, True, 1.5, "1", None])
def test_heartbeat_counters_are_non_negative_ints(name: str, value: Any) -> None:
    fields = dataclasses.asdict(Heartbeat(1, 2, 3, 4, False)) | {"type": "heartbeat", name: value}
    with pytest.raises(BadFrame, match=name):
        decode(json.dumps(fields))


def test_heartbeat_history_flag_is_a_bool() -> None:
    fields = dataclasses.asdict(Heartbeat(1, 2, 3, 4, False)) | {"type": "heartbeat"}
    with pytest.raises(BadFrame, match="history_on_reset"):
        decode(json.dumps(fields | {"history_on_reset": 0}))


@pytest.mark.parametrize("outcome", ["OK", "bogus", "", 1, None, ["ok"], {"ok": 1}])
def test_bad_outcome(outcome: Any) -> None:
    with pytest.raises(BadFrame, match="outcome is unknown"):
        decode(frame(**result_fields(outcome=outcome)))


def test_encode_refuses_an_outcome_that_is_not_the_enum() -> None:
    with pytest.raises(BadFrame, match="outcome is unknown"):
        encode(Result("r", "ok"))  # type: ignore[arg-type]
    with pytest.raises(BadFrame, match="outcome is unknown"):
        encode(Rules("r", "ok"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "detail",
    [
        [],
        "min_length=12",
        None,
        {str(i): i for i in range(9)},  # more than 8 entries
        {"": 1},
        {"k" * (MAX_ID_LENGTH + 1): 1},
        {"min_length": -1},
        {"min_length": True},
        {"min_length": 1.5},
        {"min_length": None},
        {"min_length": [12]},
        {"source": "s" * (MAX_ID_LENGTH + 1)},
    ],
)
def test_bad_detail(detail: Any) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**result_fields(detail=detail)))


def test_detail_may_hold_eight_entries_and_empty_strings() -> None:
    detail: dict[str, int | str] = {str(i): i for i in range(7)} | {"empty": ""}
    assert decode(frame(**result_fields(detail=detail))) == Result("r", Outcome.OK, detail)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_travels(outcome: Outcome) -> None:
    assert decode(encode(Result("r", outcome))) == Result("r", outcome)


def test_too_many_sync_users() -> None:
    users = [user_fields(anchor=f"a{i}") for i in range(MAX_SYNC_USERS + 1)]
    with pytest.raises(BadFrame, match="too many users"):
        decode(frame(**batch_fields(users=users)))
    with pytest.raises(BadFrame, match="too many users"):
        encode(SyncBatch("s", 0, True, True, (USER,) * (MAX_SYNC_USERS + 1)))


@pytest.mark.parametrize(
    "users",
    [
        "nope",
        {"0": user_fields()},
        None,
        ["alice"],
        [None],
        [[]],
        [{k: v for k, v in user_fields().items() if k != "mail"}],
        [user_fields(extra=1)],
        [user_fields(anchor="")],
        [user_fields(anchor="a" * (MAX_ID_LENGTH + 1))],
        [user_fields(anchor=None)],
        [user_fields(sam_account_name="")],
        [user_fields(sam_account_name="s" * 257)],
        [user_fields(user_principal_name="u" * 1025)],
        [user_fields(user_principal_name=1)],
        [user_fields(mail="")],
        [user_fields(mail="m" * 1025)],
        [user_fields(enabled=1)],
        [user_fields(enabled=None)],
    ],
)
def test_user_with_wrong_fields(users: Any) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**batch_fields(users=users)))


def test_user_bounds_are_inclusive() -> None:
    user = SyncUser("a" * MAX_ID_LENGTH, "s" * 256, "u" * 1024, "m" * 1024, False)
    batch = SyncBatch("s", 0, True, True, (user,))
    assert decode(encode(batch)) == batch


def test_oversize_control_frame() -> None:
    """A control frame over 4 KiB is refused with 1009, even if valid JSON."""
    text = frame(**hello_fields()) + " " * MAX_CONTROL_FRAME
    with pytest.raises(FrameTooLarge) as info:
        decode(text)
    assert info.value.close_code is CloseCode.TOO_LARGE
    assert isinstance(info.value, BadFrame)


def test_control_frame_at_the_bound_is_accepted() -> None:
    text = frame(**hello_fields())
    text += " " * (MAX_CONTROL_FRAME - len(text))
    assert len(text) == MAX_CONTROL_FRAME
    assert isinstance(decode(text), Hello)


def test_oversize_frame_of_any_kind() -> None:
    """Past 256 KiB nothing is even parsed."""
    with pytest.raises(FrameTooLarge):
        decode("x" * (MAX_SYNC_FRAME + 1))
    with pytest.raises(FrameTooLarge):
        decode(frame(**batch_fields()) + " " * MAX_SYNC_FRAME)


def test_sync_batch_may_use_its_own_bound() -> None:
    """A full batch of 500 users is far over 4 KiB and well within 256 KiB."""
    users = tuple(
        SyncUser(
            f"anchor{i:06d}", f"user{i}", f"user{i}@example.test", f"user{i}@example.test", True
        )
        for i in range(MAX_SYNC_USERS)
    )
    text = encode(SyncBatch("s", 0, True, True, users))
    assert MAX_CONTROL_FRAME < len(text) <= MAX_SYNC_FRAME
    batch = decode(text)
    assert isinstance(batch, SyncBatch)
    assert batch.users == users


def test_deeply_nested_json_is_a_bad_frame() -> None:
    """A frame under the size bound must never raise anything but BadFrame:
    HubLink.receive only turns ProtocolError into a close."""
    with pytest.raises(BadFrame):
        decode("[" * 100_000)


@given(st.text(max_size=300))
def test_decode_of_any_text_raises_only_bad_frame(text: str) -> None:
    with contextlib.suppress(BadFrame):
        decode(text)


@given(
    st.builds(
        Result,
        request_id=st.text(min_size=1, max_size=MAX_ID_LENGTH),
        outcome=st.sampled_from(Outcome),
        detail=st.dictionaries(
            st.text(min_size=1, max_size=MAX_ID_LENGTH),
            st.integers(min_value=0, max_value=2**53) | st.text(max_size=MAX_ID_LENGTH),
            max_size=8,
        ),
        event_id=st.integers(min_value=0, max_value=99_999_999),
        replayed=st.booleans(),
    )
)
def test_any_valid_result_round_trips(result: Result) -> None:
    assert decode(encode(result)) == result


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome": "nope"},
        {"min_length": -1},
        {"complexity": 1},
        {"source": "x" * 257},
        {"max_age": "0"},
        {"history_on_reset": 0},
        {"policy_hints": "yes"},
        {"max_length": -1},
        {"max_length": True},
    ],
)
def test_rules_refuses_bad_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**({"type": "rules", "request_id": "r", "outcome": "ok"} | fields)))


def test_rules_of_an_agent_that_does_not_tell_capabilities_leave_them_unknown() -> None:
    old = frame(type="rules", request_id="r", outcome="ok", source="domain", history_length=24)
    rules = decode(old)
    assert isinstance(rules, Rules)
    assert (rules.history_on_reset, rules.max_length, rules.policy_hints) == (None, None, None)


def test_rules_request_needs_an_anchor() -> None:
    with pytest.raises(BadFrame):
        decode(frame(type="rules_request", request_id="r", anchor=""))


# -- text must be valid Unicode ------------------------------------------------

LONE_SURROGATE = "\ud800"

#: Every string field of every message kind, as a frame with that field replaced.
STRING_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("hello.agent_id", hello_fields(agent_id=LONE_SURROGATE)),
    ("hello.tenant_id", hello_fields(tenant_id="t" + LONE_SURROGATE)),
    ("hello.software", hello_fields(software="x\udfff")),
    ("auth.secret", {"type": "auth", "secret": "pbr_" + LONE_SURROGATE}),
    (
        "ready.session_id",
        {"type": "ready", "session_id": LONE_SURROGATE, "heartbeat_interval": 1, "server_time": 1},
    ),
    ("result.request_id", result_fields(request_id=LONE_SURROGATE)),
    ("result.detail key", result_fields(detail={LONE_SURROGATE: 1})),
    ("result.detail value", result_fields(detail={"source": LONE_SURROGATE})),
    ("sync_request.sync_id", {"type": "sync_request", "sync_id": LONE_SURROGATE}),
    ("sync_batch.sync_id", batch_fields(sync_id=LONE_SURROGATE)),
    ("sync_user.anchor", batch_fields(users=[user_fields(anchor=LONE_SURROGATE)])),
    ("sync_user.sam", batch_fields(users=[user_fields(sam_account_name="a\ud800b")])),
    ("sync_user.upn", batch_fields(users=[user_fields(user_principal_name=LONE_SURROGATE)])),
    ("sync_user.mail", batch_fields(users=[user_fields(mail="\udc00@example.test")])),
    (
        "rules_request.request_id",
        {"type": "rules_request", "request_id": LONE_SURROGATE, "anchor": "a"},
    ),
    (
        "rules_request.anchor",
        {"type": "rules_request", "request_id": "r", "anchor": LONE_SURROGATE},
    ),
    ("rules.request_id", {"type": "rules", "request_id": LONE_SURROGATE, "outcome": "ok"}),
    (
        "rules.source",
        {"type": "rules", "request_id": "r", "outcome": "ok", "source": LONE_SURROGATE},
    ),
]


@pytest.mark.parametrize("fields", [f for _, f in STRING_FIELDS], ids=[n for n, _ in STRING_FIELDS])
def test_a_lone_surrogate_in_any_string_field_is_a_bad_frame(fields: dict[str, Any]) -> None:
    """JSON's escapes carry a lone surrogate through json.loads; it must stop
    here, not in the database driver (a 1011 and a lost sync batch)."""
    text = json.dumps(fields)  # ensure_ascii: the surrogate travels as "\\ud800"
    assert "\\ud" in text
    with pytest.raises(BadFrame, match="not valid Unicode") as caught:
        decode(text)
    assert caught.value.close_code is CloseCode.BAD_FRAME


def test_a_surrogate_pair_escaped_in_json_is_one_character_and_accepted() -> None:
    text = json.dumps(hello_fields(software="x\U0001f600"))
    assert "\\ud83d\\ude00" in text  # a pair of escapes on the wire
    message = decode(text)
    assert isinstance(message, Hello) and message.software == "x\U0001f600"


def test_encode_refuses_a_lone_surrogate() -> None:
    with pytest.raises(BadFrame, match="not valid Unicode"):
        encode(SyncBatch("s", 0, True, True, (dataclasses.replace(USER, mail="\ud800"),)))


@given(
    st.text(max_size=20),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=20),
    st.sampled_from(["agent_id", "tenant_id", "software"]),
)
def test_any_text_with_a_surrogate_is_refused(
    before: str, surrogate: str, after: str, field: str
) -> None:
    value = before + surrogate + after
    with pytest.raises(BadFrame):
        decode(json.dumps(hello_fields(**{field: value})))


@given(st.text(max_size=MAX_ID_LENGTH).filter(bool))
def test_any_valid_text_passes_the_unicode_check(value: str) -> None:
    message = decode(json.dumps(hello_fields(agent_id=value), ensure_ascii=False))
    assert isinstance(message, Hello) and message.agent_id == value


def test_user_phones_travel_and_may_be_left_out() -> None:
    """SPEC G3: an agent sends the directory's numbers; one that predates them
    sends neither field, and both decode."""
    user = SyncUser("Zm9v", "bob", None, None, True, mobile="+55 11 91234-5678", telephone="x")
    batch = SyncBatch("s", 0, True, True, (user,))
    assert decode(encode(batch)) == batch
    old = {k: v for k, v in user_fields().items() if k not in ("mobile", "telephone")}
    assert decode(frame(**batch_fields(users=[old]))) == SyncBatch("s", 0, True, True, (USER,))


@pytest.mark.parametrize(
    "fields",
    [
        {"mobile": 5},
        {"mobile": ""},
        {"telephone": "1" * (MAX_PHONE_TEXT + 1)},
        {"pager": "123"},
    ],
)
def test_user_phones_are_checked(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**batch_fields(users=[{**user_fields(), **fields}])))


SID = "S-1-5-21-1004336348-1177238915-682003330-1105"


def test_user_groups_and_the_groups_of_a_batch_travel_and_may_be_left_out() -> None:
    """G6: a user's group SIDs and the directory's groups travel in a sync
    batch; an agent that predates them sends neither, and both decode."""
    user = dataclasses.replace(USER, groups=(SID, "S-1-5-32-545"))
    batch = SyncBatch("s", 0, True, True, (user,), (SyncGroup(SID, "Sales staff"),))
    assert decode(encode(batch)) == batch
    old = {k: v for k, v in user_fields().items() if k != "groups"}
    assert decode(frame(**batch_fields(users=[old]))) == SyncBatch("s", 0, True, True, (USER,))


def test_group_bounds_are_inclusive() -> None:
    user = dataclasses.replace(USER, groups=("S" * MAX_SID_TEXT,) * MAX_USER_GROUPS)
    batch = SyncBatch("s", 0, True, True, (user,), (SyncGroup("S" * MAX_SID_TEXT, "n" * 256),))
    assert decode(encode(batch)) == batch
    groups = tuple(SyncGroup(f"S-1-{i}", "n") for i in range(MAX_SYNC_GROUPS))
    batch = SyncBatch("s", 0, True, True, (), groups)
    assert decode(encode(batch)) == batch


@pytest.mark.parametrize(
    "fields",
    [
        {"groups": "S-1-5-32-545"},
        {"groups": [5]},
        {"groups": [""]},
        {"groups": ["S" * (MAX_SID_TEXT + 1)]},
        {"groups": [SID] * (MAX_USER_GROUPS + 1)},
        {"groups": None},
    ],
)
def test_user_groups_are_checked(fields: dict[str, Any]) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**batch_fields(users=[{**user_fields(), **fields}])))


@pytest.mark.parametrize(
    "groups",
    [
        "nope",
        None,
        [None],
        [[SID, "x"]],
        [{"sid": SID}],
        [{"sid": SID, "name": "x", "extra": 1}],
        [{"sid": "", "name": "x"}],
        [{"sid": SID, "name": ""}],
        [{"sid": SID, "name": "n" * 257}],
        [{"sid": 5, "name": "x"}],
        [{"sid": SID, "name": "x"}] * (MAX_SYNC_GROUPS + 1),
    ],
)
def test_batch_groups_are_checked(groups: Any) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**batch_fields(groups=groups)))


def test_encode_checks_the_groups_too() -> None:
    with pytest.raises(BadFrame, match="too many groups"):
        encode(SyncBatch("s", 0, True, True, (), (SyncGroup(SID, "x"),) * (MAX_SYNC_GROUPS + 1)))
    with pytest.raises(BadFrame, match="groups must be"):
        encode(SyncBatch("s", 0, True, True, (dataclasses.replace(USER, groups=[SID]),)))  # type: ignore[arg-type]


def test_hello_features_travel_unknown_names_too_and_may_be_left_out() -> None:
    """protocol.features: a newer agent may name features this side does not
    know; an older one sends none."""
    hello = Hello(1, "agent-1", "tenant-1", "passback-agent/0.2", ("must_change", "teleport"))
    assert decode(encode(hello)) == hello
    assert decode(frame(**hello_fields())) == Hello(1, "agent-1", "tenant-1", "x")
    assert tuple(Feature) == ALL_FEATURES and "groups" in ALL_FEATURES


@pytest.mark.parametrize(
    "features",
    ["must_change", None, [5], [""], ["f" * (MAX_FEATURE_NAME + 1)], ["f"] * (MAX_FEATURES + 1)],
)
def test_hello_features_are_checked(features: Any) -> None:
    with pytest.raises(BadFrame):
        decode(frame(**hello_fields(features=features)))
