"""The sealed package that carries a password from the server to one agent.

SPEC S2: the password is encrypted for the agent's RSA-2048 key with
OAEP-SHA256. RSA-OAEP holds at most 190 bytes, and AD takes passwords of 256
UTF-16 units (512 bytes), so it wraps a fresh 256-bit content key under which
AES-256-GCM encrypts the password: the usual hybrid construction.
SPEC S3: the whole package is sealed with AES-256-GCM under the tenant's
package key, with the metadata as associated data, so it can be neither
altered nor replayed into another tenant.

Layout, version 1 (all integers big-endian)::

    header (the associated data of both GCM layers)
      0   1  version = 1
      1   8  package key id
      9  16  tenant id (UUID)
     25  16  agent id (UUID) — the agent whose RSA key sealed the password
     41  16  request id (UUID)
     57   1  operation code
     58   1  flags (bit 0: unlock the account too; bit 1: must change the
                password at next logon — an administrator's reset only;
                bit 2: a verify from the owner's own browser — no lockout
                reserve kept for the owner against it)
     59   8  issued at (unix seconds)
     67   8  expires at (unix seconds)
     75   1  anchor length n (1..64)
     76   n  anchor (objectGUID / ms-DS-ConsistencyGuid bytes)
    then 12 bytes nonce, then AES-GCM(package key) of:
      256 bytes RSA-OAEP(agent key) of the content key K
      AES-GCM(K, nonce 0 — K is used once) of the secrets, each as
        1 byte encoding (0 UTF-8, 1 UTF-16-LE: the shorter) + 2 bytes length + bytes
        (no secret at all, an empty block, exactly for an operation that carries
        none: an unlock, a require-change)

The longest envelope (a 64-byte anchor, one 256-unit password) is 955 bytes,
under the 1 KB of S8.
"""

from __future__ import annotations

import dataclasses
import secrets
import struct
import uuid
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from passback.crypto.errors import (
    Expired,
    IntegrityError,
    LifetimeTooLong,
    Malformed,
    NotYetValid,
    UnknownKey,
    WrongRecipient,
)
from passback.crypto.keys import PackageKey
from passback.protocol.anchors import MAX_ANCHOR_BYTES
from passback.protocol.operations import Operation

VERSION = 1
#: How far in the agent's future an envelope may say it was issued: the
#: server's and the agent's clocks differ a little (heartbeats report by how much).
MAX_CLOCK_SKEW = 120
#: Longest lifetime (expiry − issue time) an agent accepts: the ceiling of the
#: server's operation TTL (``--operation-ttl``). A longer one was not sealed by
#: a server as configured, and would keep a password usable for too long (S5).
MAX_LIFETIME = 3600
#: Longest secret in bytes once encoded (AD: 256 UTF-16 units).
MAX_SECRET_BYTES = 512
_FIXED = struct.Struct(">B8s16s16s16sBBQQB")
_NONCE_BYTES = 12
_ZERO_NONCE = bytes(_NONCE_BYTES)
_RSA_BYTES = 256
_TAG_BYTES = 16
_FLAG_UNLOCK = 0x01
_FLAG_MUST_CHANGE = 0x02
_FLAG_OWNER = 0x04
#: Flags an agent of this version understands; any other bit is refused, so an
#: older agent never quietly drops one.
_FLAGS = _FLAG_UNLOCK | _FLAG_MUST_CHANGE | _FLAG_OWNER
_UTF8, _UTF16 = 0, 1

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What the envelope says about itself; bound into both GCM layers."""

    tenant_id: str
    agent_id: str
    request_id: str
    operation: Operation
    anchor: bytes
    issued_at: int
    expires_at: int
    unlock: bool = False
    must_change: bool = False
    #: A verify asked from a browser the account's owner used before (its
    #: device token): the agent keeps no lockout reserve for the owner
    #: against it (it still never makes the failure that locks).
    owner: bool = False
    key_id: str = ""  # filled in by seal()


@dataclasses.dataclass(frozen=True)
class Opened:
    metadata: Metadata
    secrets: tuple[str, ...] = dataclasses.field(repr=False)


def seal(
    metadata: Metadata,
    passwords: Sequence[str],
    *,
    agent_key: rsa.RSAPublicKey,
    package_key: PackageKey,
) -> bytes:
    """Seal ``passwords`` (the new one first) for one agent; none exactly when
    the operation carries none (``Operation.secrets`` is 0).

    Raises:
        ValueError: a field does not fit the layout, no password for an
            operation that needs one or one for an operation that takes none,
            or a password is not encodable text (a lone surrogate) or is
            longer than AD allows.
    """
    meta = dataclasses.replace(metadata, key_id=package_key.key_id)
    if not passwords and meta.operation.secrets:
        raise ValueError(f"no password to seal for a {meta.operation}")
    if passwords and not meta.operation.secrets:
        raise ValueError(f"a {meta.operation} carries no password")
    header = _pack_header(meta)
    content_key = AESGCM.generate_key(bit_length=256)
    inner = agent_key.encrypt(content_key, _OAEP) + AESGCM(content_key).encrypt(
        _ZERO_NONCE, _pack_secrets(passwords), header
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return header + nonce + AESGCM(package_key.secret).encrypt(nonce, inner, header)


def read_metadata(data: bytes) -> Metadata:
    """The metadata, **not verified**: for routing and logging only.

    Raises:
        Malformed: not a version-1 envelope.
    """
    return _unpack_header(data)[0]


def open_envelope(
    data: bytes,
    *,
    agent_key: rsa.RSAPrivateKey,
    package_keys: Mapping[str, PackageKey],
    now: int,
) -> Opened:
    """Verify and decrypt an envelope; check order: format, key, integrity,
    recipient, times — each refusal its own exception (EVENTS 32004, S5).

    The times: issued at most :data:`MAX_CLOCK_SKEW` seconds after ``now``,
    valid for at most :data:`MAX_LIFETIME` seconds, and not yet expired.

    Raises:
        Malformed, UnknownKey, IntegrityError, WrongRecipient, NotYetValid,
        LifetimeTooLong, Expired.
    """
    meta, header_len = _unpack_header(data)
    package_key = package_keys.get(meta.key_id)
    if package_key is None:
        raise UnknownKey(f"sealed under key {meta.key_id}, which this agent does not hold")
    header, body = data[:header_len], data[header_len:]
    if len(body) < _NONCE_BYTES + _TAG_BYTES + _RSA_BYTES + _TAG_BYTES:
        raise Malformed("envelope is truncated")
    try:
        inner = AESGCM(package_key.secret).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], header)
    except InvalidTag as exc:
        raise IntegrityError("package failed authentication") from exc
    try:
        content_key = agent_key.decrypt(inner[:_RSA_BYTES], _OAEP)
    except ValueError as exc:
        raise WrongRecipient("not sealed for this agent's key") from exc
    try:
        plain = AESGCM(content_key).decrypt(_ZERO_NONCE, inner[_RSA_BYTES:], header)
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError("password block failed authentication") from exc
    _check_times(meta, now)
    found = _unpack_secrets(plain)
    if not found and meta.operation.secrets:
        raise Malformed("no secrets in the envelope")
    return Opened(meta, found)


def _check_times(meta: Metadata, now: int) -> None:
    if meta.issued_at > now + MAX_CLOCK_SKEW:
        raise NotYetValid(
            f"issued at {meta.issued_at}, {meta.issued_at - now} s after now ({now}); "
            f"clocks may differ by {MAX_CLOCK_SKEW} s at most"
        )
    if meta.expires_at - meta.issued_at > MAX_LIFETIME:
        raise LifetimeTooLong(
            f"valid for {meta.expires_at - meta.issued_at} s; at most {MAX_LIFETIME} s accepted"
        )
    if now >= meta.expires_at:
        raise Expired(f"expired at {meta.expires_at}, now {now}")


def _uuid_bytes(name: str, value: str) -> bytes:
    try:
        return uuid.UUID(value).bytes
    except ValueError as exc:
        raise ValueError(f"{name} must be a UUID") from exc


def _pack_header(meta: Metadata) -> bytes:
    if not 1 <= len(meta.anchor) <= MAX_ANCHOR_BYTES:
        raise ValueError(f"anchor must be 1..{MAX_ANCHOR_BYTES} bytes")
    if not (0 <= meta.issued_at < 2**64 and 0 <= meta.expires_at < 2**64):
        raise ValueError("times must be unix seconds")
    fixed = _FIXED.pack(
        VERSION,
        bytes.fromhex(meta.key_id),
        _uuid_bytes("tenant_id", meta.tenant_id),
        _uuid_bytes("agent_id", meta.agent_id),
        _uuid_bytes("request_id", meta.request_id),
        meta.operation.code,
        (_FLAG_UNLOCK if meta.unlock else 0)
        | (_FLAG_MUST_CHANGE if meta.must_change else 0)
        | (_FLAG_OWNER if meta.owner else 0),
        meta.issued_at,
        meta.expires_at,
        len(meta.anchor),
    )
    return fixed + meta.anchor


def _unpack_header(data: bytes) -> tuple[Metadata, int]:
    if len(data) < _FIXED.size or data[0] != VERSION:
        raise Malformed("not a version 1 envelope")
    _version, kid, tenant, agent, rid, op, flags, iat, exp, n = _FIXED.unpack_from(data)
    end = _FIXED.size + n
    if not 1 <= n <= MAX_ANCHOR_BYTES or len(data) < end or flags & ~_FLAGS:
        raise Malformed("bad header")
    try:
        operation = Operation.from_code(op)
    except ValueError as exc:
        raise Malformed("unknown operation") from exc
    meta = Metadata(
        tenant_id=str(uuid.UUID(bytes=tenant)),
        agent_id=str(uuid.UUID(bytes=agent)),
        request_id=str(uuid.UUID(bytes=rid)),
        operation=operation,
        anchor=data[_FIXED.size : end],
        issued_at=iat,
        expires_at=exp,
        unlock=bool(flags & _FLAG_UNLOCK),
        must_change=bool(flags & _FLAG_MUST_CHANGE),
        owner=bool(flags & _FLAG_OWNER),
        key_id=kid.hex(),
    )
    return meta, end


def _pack_secrets(passwords: Sequence[str]) -> bytes:
    out = bytearray()
    for password in passwords:
        # Checked before encoding: an encoding error would hold the password.
        if any(0xD800 <= ord(c) <= 0xDFFF for c in password):
            raise ValueError("a password is not valid Unicode text (a lone surrogate)")
        utf8 = password.encode("utf-8")
        utf16 = password.encode("utf-16-le")
        kind, raw = (_UTF8, utf8) if len(utf8) <= len(utf16) else (_UTF16, utf16)
        if len(raw) > MAX_SECRET_BYTES:
            raise ValueError("a password is longer than the directory allows")
        out += struct.pack(">BH", kind, len(raw)) + raw
    return bytes(out)


def _unpack_secrets(plain: bytes) -> tuple[str, ...]:
    found: list[str] = []
    offset = 0
    while offset < len(plain):
        if offset + 3 > len(plain):
            raise Malformed("bad secrets block")
        kind, length = struct.unpack_from(">BH", plain, offset)
        offset += 3
        raw = plain[offset : offset + length]
        offset += length
        if len(raw) != length or kind not in (_UTF8, _UTF16):
            raise Malformed("bad secrets block")
        try:
            found.append(raw.decode("utf-8" if kind == _UTF8 else "utf-16-le"))
        except UnicodeDecodeError:
            raise Malformed("bad secrets block") from None
    return tuple(found)
