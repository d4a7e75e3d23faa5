"""passback.crypto.envelope: the sealed password package (S2, S3, S5, S7, S8)."""

from __future__ import annotations

import dataclasses
import secrets
import struct
import traceback
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from passback.crypto.envelope import (
    MAX_ANCHOR_BYTES,
    MAX_CLOCK_SKEW,
    MAX_LIFETIME,
    MAX_SECRET_BYTES,
    VERSION,
    Metadata,
    Opened,
    open_envelope,
    read_metadata,
    seal,
)
from passback.crypto.errors import (
    EnvelopeError,
    Expired,
    IntegrityError,
    LifetimeTooLong,
    Malformed,
    NotYetValid,
    UnknownKey,
    WrongRecipient,
)
from passback.crypto.keys import PackageKey
from passback.protocol.messages import MAX_OPERATION_FRAME
from passback.protocol.operations import Operation

NOW = 1_700_000_000
TTL = 300
MARKER = "Marker-Pa55w0rd!"
#: Offsets in the version-1 header (see the module docstring).
KEY_ID, TENANT, AGENT, REQUEST, OPERATION, FLAGS, ISSUED, EXPIRES, ANCHOR_LEN, ANCHOR = (
    1, 9, 25, 41, 57, 58, 59, 67, 75, 76,
)  # fmt: skip
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def metadata(**changes: object) -> Metadata:
    meta = Metadata(
        tenant_id=str(uuid.UUID(int=1)),
        agent_id=str(uuid.UUID(int=2)),
        request_id=str(uuid.uuid4()),
        operation=Operation.RESET,
        anchor=bytes(range(16)),
        issued_at=NOW,
        expires_at=NOW + TTL,
    )
    return dataclasses.replace(meta, **changes)  # type: ignore[arg-type]


@pytest.fixture
def sealer(agent_key: rsa.RSAPrivateKey, package_key: PackageKey):  # type: ignore[no-untyped-def]
    def _seal(passwords: list[str] | None = None, **changes: object) -> bytes:
        return seal(
            metadata(**changes),
            [MARKER] if passwords is None else passwords,
            agent_key=agent_key.public_key(),
            package_key=package_key,
        )

    return _seal


@pytest.fixture
def opener(agent_key: rsa.RSAPrivateKey, package_key: PackageKey):  # type: ignore[no-untyped-def]
    def _open(data: bytes, now: int = NOW) -> Opened:
        return open_envelope(
            data, agent_key=agent_key, package_keys={package_key.key_id: package_key}, now=now
        )

    return _open


def craft(
    header: bytes, plain: bytes, agent_key: rsa.RSAPrivateKey, package_key: PackageKey
) -> bytes:
    """An envelope whose crypto is sound around a chosen secrets block."""
    content_key = AESGCM.generate_key(bit_length=256)
    inner = agent_key.public_key().encrypt(content_key, OAEP) + AESGCM(content_key).encrypt(
        bytes(12), plain, header
    )
    nonce = secrets.token_bytes(12)
    return header + nonce + AESGCM(package_key.secret).encrypt(nonce, inner, header)


def header_of(data: bytes) -> bytes:
    return data[: ANCHOR + data[ANCHOR_LEN]]


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


@pytest.mark.parametrize(
    "password",
    [
        "Correct-Horse-9",
        "",
        "pässwörd-Ünïcödé",
        "密码安全测试",
        "🔐🗝️🦄 emoji pass",
        "a" * 256,
        "語" * 256,  # 256 UTF-16 units, 512 bytes as UTF-16
        "😀" * 128,  # 256 UTF-16 units (surrogate pairs), 512 bytes either way
        "x" * 512,  # 512 ASCII bytes: longer than AD allows, yet within the byte bound
        "tab\tnewline\nnul\x00",
    ],
    ids=lambda p: f"{len(p)}chars",
)
def test_round_trip(sealer, opener, password: str) -> None:  # type: ignore[no-untyped-def]
    """S2/S3: what is sealed opens to the same text and metadata."""
    data = sealer([password], unlock=True, operation=Operation.ADMIN_RESET)
    opened = opener(data)
    assert opened.secrets == (password,)
    assert opened.metadata.unlock is True
    assert opened.metadata.operation is Operation.ADMIN_RESET
    assert data[0] == VERSION


def test_must_change_flag(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """W3: an administrator's reset may say "must change at next logon" (flags bit 1)."""
    opened = opener(sealer(must_change=True, operation=Operation.ADMIN_RESET))
    assert opened.metadata.must_change is True
    assert opened.metadata.unlock is False


def test_owner_flag(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """U4: a verify from the owner's own browser says so (flags bit 2)."""
    opened = opener(sealer(owner=True, operation=Operation.VERIFY))
    assert opened.metadata.owner is True
    assert (opened.metadata.unlock, opened.metadata.must_change) == (False, False)


def test_metadata_survives(sealer, opener, package_key: PackageKey) -> None:  # type: ignore[no-untyped-def]
    meta = metadata(anchor=b"\xff" * MAX_ANCHOR_BYTES)
    data = sealer(**dataclasses.asdict(meta))
    expected = dataclasses.replace(meta, key_id=package_key.key_id)
    assert read_metadata(data) == expected
    assert opener(data).metadata == expected


def test_several_secrets_keep_their_order(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    assert opener(sealer(["new-1", "old-2"])).secrets == ("new-1", "old-2")


def test_each_seal_is_fresh(sealer) -> None:  # type: ignore[no-untyped-def]
    meta = metadata()
    a = sealer(**dataclasses.asdict(meta))
    b = sealer(**dataclasses.asdict(meta))
    assert header_of(a) == header_of(b)
    assert a != b


def test_password_is_not_in_the_bytes(sealer) -> None:  # type: ignore[no-untyped-def]
    data = sealer()
    for encoding in ("utf-8", "utf-16-le"):
        assert MARKER.encode(encoding) not in data


@pytest.mark.parametrize(
    ("password", "size"),
    [("語" * 256, 955), ("😀" * 128, 955), ("x" * MAX_SECRET_BYTES, 955), ("a" * 256, 699)],
    ids=["256-cjk", "128-emoji", "512-ascii", "256-ascii"],
)
def test_worst_case_size_is_under_1_kb(sealer, opener, password: str, size: int) -> None:  # type: ignore[no-untyped-def]
    """S8: a 64-byte anchor and the longest password AD takes still fit in 1 KB
    (and so in one operation frame of the relay)."""
    data = sealer([password], anchor=b"\xab" * MAX_ANCHOR_BYTES)
    print(f"worst-case envelope ({password[:1]!r} x {len(password)}): {len(data)} bytes")
    assert len(data) == size
    assert len(data) < 1024
    assert len(data) <= MAX_OPERATION_FRAME
    assert opener(data).secrets == (password,)


def test_short_envelope_size(sealer) -> None:  # type: ignore[no-untyped-def]
    data = sealer(["Summer2025!"])
    print(f"typical envelope: {len(data)} bytes")
    assert len(data) < 512


def test_expired(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """S5: refused from the second it expires."""
    data = sealer()
    assert opener(data, now=NOW + TTL - 1).secrets == (MARKER,)
    with pytest.raises(Expired) as info:
        opener(data, now=NOW + TTL)
    assert info.value.reason == "expired"
    with pytest.raises(Expired):
        opener(data, now=NOW + 10 * TTL)


def test_unknown_key(sealer, agent_key: rsa.RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    """EVENTS 32004 "key mismatch": the agent holds another tenant key."""
    data = sealer()
    other = PackageKey.generate()
    with pytest.raises(UnknownKey) as info:
        open_envelope(data, agent_key=agent_key, package_keys={other.key_id: other}, now=NOW)
    assert info.value.reason == "key-mismatch"


def test_same_key_id_other_secret(sealer, agent_key, package_key: PackageKey) -> None:  # type: ignore[no-untyped-def]
    impostor = PackageKey(package_key.key_id, bytes(32))
    with pytest.raises(IntegrityError):
        open_envelope(
            sealer(), agent_key=agent_key, package_keys={impostor.key_id: impostor}, now=NOW
        )


def test_wrong_recipient(sealer, other_agent_key, package_key: PackageKey) -> None:  # type: ignore[no-untyped-def]
    """S2: the right tenant key but another agent's RSA key."""
    with pytest.raises(WrongRecipient) as info:
        open_envelope(
            sealer(),
            agent_key=other_agent_key,
            package_keys={package_key.key_id: package_key},
            now=NOW,
        )
    assert info.value.reason == "wrong-recipient"


def test_old_and_new_key_both_open(sealer, agent_key, package_key: PackageKey) -> None:  # type: ignore[no-untyped-def]
    """S6: during rollover the agent holds two keys; each opens its own envelopes."""
    new = PackageKey.generate()
    keys = {package_key.key_id: package_key, new.key_id: new}
    old_env = sealer()
    new_env = seal(metadata(), ["n"], agent_key=agent_key.public_key(), package_key=new)
    assert open_envelope(old_env, agent_key=agent_key, package_keys=keys, now=NOW).secrets
    opened = open_envelope(new_env, agent_key=agent_key, package_keys=keys, now=NOW)
    assert opened.metadata.key_id == new.key_id


def _header_expectation(index: int) -> type[EnvelopeError]:
    if index == 0 or index == OPERATION:
        return Malformed  # version 0 / operation code 0 or 3
    if KEY_ID <= index < TENANT:
        return UnknownKey  # a key id the agent does not hold
    return IntegrityError  # flags bit 0 is valid: unlock flips; length 16→17 shifts


@pytest.mark.parametrize("index", range(ANCHOR + 16))
def test_flipped_header_byte(sealer, opener, index: int) -> None:  # type: ignore[no-untyped-def]
    """S3: the header is associated data: any change is caught."""
    data = sealer()
    assert data[ANCHOR_LEN] == 16
    with pytest.raises(_header_expectation(index)):
        opener(flip(data, index))


@pytest.mark.parametrize(("index", "mask"), [(FLAGS, 0x80), (FLAGS, 0x08), (ANCHOR_LEN, 0x10)])
def test_header_bytes_that_make_it_malformed(sealer, opener, index: int, mask: int) -> None:  # type: ignore[no-untyped-def]
    data = sealer()
    with pytest.raises(Malformed):
        opener(flip(data, index, mask))
    with pytest.raises(Malformed):
        read_metadata(flip(data, index, mask))


def test_flipped_body_byte(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """Every byte after the header (nonce, ciphertext, tag) is authenticated."""
    data = sealer()
    start = len(header_of(data))
    for index in range(start, len(data)):
        with pytest.raises(IntegrityError):
            opener(flip(data, index))


def test_metadata_swapped_between_tenants(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """S3: an envelope cannot be replayed into another tenant by editing its header."""
    data = bytearray(sealer())
    other_tenant = uuid.UUID(int=99).bytes
    data[TENANT:AGENT] = other_tenant
    with pytest.raises(IntegrityError):
        opener(bytes(data))


def test_header_of_another_envelope(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """Two valid envelopes: one's header on the other's body is refused."""
    a, b = sealer(), sealer(["other"])
    ha, hb = header_of(a), header_of(b)
    with pytest.raises(IntegrityError):
        opener(hb + a[len(ha) :])


def test_longer_expiry_cannot_be_written_in(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(sealer())
    data[EXPIRES : EXPIRES + 8] = struct.pack(">Q", NOW + 10**6)
    with pytest.raises(IntegrityError):
        opener(bytes(data), now=NOW + TTL + 1)


def test_inner_block_bound_to_the_header(agent_key, package_key: PackageKey, opener) -> None:  # type: ignore[no-untyped-def]
    """The password block is bound to the header too: a package re-sealed by a
    holder of the tenant key around another header is refused."""
    real = seal(metadata(), [MARKER], agent_key=agent_key.public_key(), package_key=package_key)
    header = header_of(real)
    outer = AESGCM(package_key.secret)
    inner = outer.decrypt(real[len(header) : len(header) + 12], real[len(header) + 12 :], header)
    forged_header = flip(header, FLAGS)  # now says "unlock"
    nonce = bytes(12)
    forged = forged_header + nonce + outer.encrypt(nonce, inner, forged_header)
    with pytest.raises(IntegrityError, match="password block"):
        opener(forged)


def test_inner_content_key_of_a_wrong_size(agent_key, package_key: PackageKey, opener) -> None:  # type: ignore[no-untyped-def]
    header = header_of(
        seal(metadata(), ["x"], agent_key=agent_key.public_key(), package_key=package_key)
    )
    inner = agent_key.public_key().encrypt(b"short key", OAEP) + bytes(40)
    nonce = bytes(12)
    data = header + nonce + AESGCM(package_key.secret).encrypt(nonce, inner, header)
    with pytest.raises(IntegrityError):
        opener(data)


@pytest.mark.parametrize(
    "plain",
    [
        b"",  # no secrets at all
        b"\x00\x00",  # a cut length
        b"\x00\x00\x05abc",  # shorter than it says
        b"\x02\x00\x01a",  # unknown encoding
        b"\x00\x00\x02\xff\xfe",  # not UTF-8
        b"\x01\x00\x02\x00\xd8",  # a lone surrogate in UTF-16
        b"\x00\x00\x01a\x00",  # good secret, then garbage
    ],
)
def test_bad_secrets_block(agent_key, package_key: PackageKey, opener, plain: bytes) -> None:  # type: ignore[no-untyped-def]
    header = header_of(
        seal(metadata(), ["x"], agent_key=agent_key.public_key(), package_key=package_key)
    )
    with pytest.raises(Malformed):
        opener(craft(header, plain, agent_key, package_key))


def test_crafted_block_in_both_encodings(agent_key, package_key: PackageKey, opener) -> None:  # type: ignore[no-untyped-def]
    header = header_of(
        seal(metadata(), ["x"], agent_key=agent_key.public_key(), package_key=package_key)
    )
    plain = b"\x00\x00\x02ab" + b"\x01\x00\x02" + "語".encode("utf-16-le")
    assert opener(craft(header, plain, agent_key, package_key)).secrets == ("ab", "語")


@pytest.mark.parametrize("keep", [0, 1, 75, 91, 76 + 16 + 12 + 256 + 16 + 15])
def test_truncated(sealer, opener, keep: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Malformed):
        opener(sealer()[:keep])


def test_truncated_within_the_ciphertext(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    data = sealer()
    with pytest.raises(IntegrityError):
        opener(data[:-1])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01", b"\x00" * 100, b"\x02" + bytes(99), b"garbage" * 20, b"\x01" + b"\xff" * 80],
)
def test_read_metadata_of_garbage(data: bytes) -> None:
    with pytest.raises(Malformed):
        read_metadata(data)


def test_read_metadata_with_an_unknown_operation(sealer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Malformed, match="unknown operation"):
        read_metadata(flip(sealer(), OPERATION, 0x08))


def test_read_metadata_does_not_verify(sealer) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(sealer())
    data[TENANT:AGENT] = uuid.UUID(int=99).bytes
    assert read_metadata(bytes(data)).tenant_id == str(uuid.UUID(int=99))


@pytest.mark.parametrize(
    "password", ["\ud800", "ok\udfffok", MARKER + "\ud83d"], ids=["lone-high", "lone-low", "cut"]
)
def test_seal_refuses_a_lone_surrogate(sealer, password: str) -> None:  # type: ignore[no-untyped-def]
    """S7: the error must not carry the password, not even in its cause."""
    with pytest.raises(ValueError, match="not valid Unicode") as info:
        sealer([password])
    assert password not in str(info.value) and password not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # no encoding error holding the password


@pytest.mark.parametrize(
    "password",
    [MARKER * 40, "x" * (MAX_SECRET_BYTES + 1), "😀" * 129, "語" * 257],
    ids=["marker", "513-ascii", "129-emoji", "257-cjk"],
)
def test_seal_refuses_a_password_over_512_bytes(sealer, password: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="longer than the directory allows") as info:
        sealer([password])
    assert password not in str(info.value)
    assert MARKER not in str(info.value) and MARKER not in repr(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"anchor": b""},
        {"anchor": b"a" * (MAX_ANCHOR_BYTES + 1)},
        {"tenant_id": "not-a-uuid"},
        {"agent_id": ""},
        {"request_id": "req-1"},
    ],
)
def test_seal_refuses_metadata_that_does_not_fit(sealer, changes: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        sealer(**changes)


@pytest.mark.parametrize(("field", "value"), [("issued_at", -1), ("expires_at", 2**64)])
def test_seal_refuses_times_that_do_not_fit(sealer, field: str, value: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        sealer(**{field: value})


def test_lone_surrogate_error_keeps_no_reference_to_the_password(sealer) -> None:  # type: ignore[no-untyped-def]
    """S7: an error reporter that walks ``__context__`` must not find the password."""
    with pytest.raises(ValueError) as info:
        sealer([MARKER + "\ud800"])
    assert info.value.__context__ is None


def test_seal_refuses_no_password(sealer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no password to seal"):
        sealer([])


@pytest.mark.parametrize(
    "operation", [Operation.UNLOCK, Operation.REQUIRE_CHANGE, Operation.STATUS]
)
def test_an_operation_without_secrets_round_trips(sealer, opener, operation: Operation) -> None:  # type: ignore[no-untyped-def]
    opened = opener(sealer([], operation=operation))
    assert opened.secrets == ()
    assert opened.metadata.operation is operation


@pytest.mark.parametrize(
    "operation", [Operation.UNLOCK, Operation.REQUIRE_CHANGE, Operation.STATUS]
)
def test_seal_refuses_a_password_for_an_operation_without_secrets(  # type: ignore[no-untyped-def]
    sealer, operation: Operation
) -> None:
    with pytest.raises(ValueError, match="carries no password"):
        sealer([MARKER], operation=operation)


def test_no_password_in_any_refusal(  # type: ignore[no-untyped-def]
    sealer, opener, agent_key, other_agent_key, package_key: PackageKey
) -> None:
    """S7: collect every refusal of an envelope carrying the marker password and
    look for it (and its encodings) in the text and repr of each."""
    data = sealer()
    raised: list[BaseException] = []
    attempts = [
        lambda: opener(data, now=NOW + TTL),
        lambda: opener(flip(data, 20)),
        lambda: opener(flip(data, len(data) - 1)),
        lambda: opener(data[:100]),
        lambda: open_envelope(data, agent_key=agent_key, package_keys={}, now=NOW),
        lambda: open_envelope(
            data,
            agent_key=other_agent_key,
            package_keys={package_key.key_id: package_key},
            now=NOW,
        ),
        lambda: sealer([MARKER * 40]),
        lambda: sealer([MARKER + "\udc00"]),
    ]
    for attempt in attempts:
        with pytest.raises((EnvelopeError, ValueError)) as info:
            attempt()
        raised.append(info.value)
    for exc in raised:
        assert MARKER not in str(exc) and MARKER not in repr(exc)
        # What a log line with exc_info would show, cause and context included.
        shown = "".join(traceback.format_exception(exc))
        assert MARKER not in shown
        assert repr(MARKER.encode()) not in shown
    opened = opener(data)
    assert MARKER not in repr(opened)


def test_issued_in_the_future_within_the_clock_skew_opens(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    data = sealer(issued_at=NOW + MAX_CLOCK_SKEW, expires_at=NOW + MAX_CLOCK_SKEW + TTL)
    assert opener(data, now=NOW).secrets == (MARKER,)


def test_issued_further_in_the_future_is_not_yet_valid(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    """S5: an envelope from the future is a skewed clock or a forgery stored
    for later: refused, with its own reason, and not mistaken for "expired"."""
    data = sealer(issued_at=NOW + MAX_CLOCK_SKEW + 1, expires_at=NOW + MAX_CLOCK_SKEW + 1 + TTL)
    with pytest.raises(NotYetValid) as info:
        opener(data, now=NOW)
    assert info.value.reason == "not-yet-valid"
    assert opener(data, now=NOW + 1).secrets == (MARKER,)  # once the clock catches up


def test_lifetime_up_to_the_maximum_opens(sealer, opener) -> None:  # type: ignore[no-untyped-def]
    data = sealer(expires_at=NOW + MAX_LIFETIME)
    assert opener(data, now=NOW + MAX_LIFETIME - 1).secrets == (MARKER,)


@pytest.mark.parametrize("lifetime", [MAX_LIFETIME + 1, 86_400, 2**40])
def test_lifetime_above_the_maximum_is_refused(sealer, opener, lifetime: int) -> None:  # type: ignore[no-untyped-def]
    """S5: a server seals for at most its operation TTL's ceiling; a longer
    lifetime would keep the envelope usable for days, so it is refused even
    while it has not expired."""
    data = sealer(expires_at=NOW + lifetime)
    with pytest.raises(LifetimeTooLong) as info:
        opener(data, now=NOW)
    assert info.value.reason == "lifetime-too-long"
