"""Tables of the server's store (SQLAlchemy 2, typed).

Identifiers are UUIDs kept as their 36-character text so that SQLite and
PostgreSQL hold the same values. No table has a column for a password
(SPEC S7): the server only ever holds a password in memory, while sealing it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

UUID_LENGTH = 36
#: A secret wrapped under the master key: "mk1." + 16-hex key id + "." + base64url
#: of a 12-byte nonce, up to 32 secret bytes and a 16-byte tag (101 characters).
WRAPPED_LENGTH = 128
SLUG_LENGTH = 64


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on both sides; SQLite would hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The tenant's part of the portal's URL: ``/portal/<slug>/``.
    slug: Mapped[str] = mapped_column(String(SLUG_LENGTH), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    unlock_on_reset: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: Refuse common and easily guessed passwords before they reach the directory.
    refuse_common: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: The tenant's own banned words, one a line; its name and slug are banned too.
    banned_words: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: What the tenant may use (E1, ``server.plans.Plan``); set by the operator.
    plan: Mapped[str] = mapped_column(String(16), default="premium", server_default="premium")


class Token(Base):
    """An admin API token or a one-time onboarding token; only its hash is kept."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "admin" | "onboarding"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: An administrator's own API token: it acts with that administrator's
    #: role, and only while they are active; None: the tenant's bootstrap token.
    admin_id: Mapped[str | None] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    public_key_pem: Mapped[str] = mapped_column(Text)
    relay_secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    software: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: From the agent's heartbeat: whether its directory enforces history on
    #: resets (W4); unknown until the first heartbeat.
    history_on_reset: Mapped[bool | None] = mapped_column(Boolean)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Its last full sync: when it ended, the users and groups it carried, the
    #: users it removed, and whether every batch arrived (else none is removed).
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_sync_users: Mapped[int | None] = mapped_column(Integer)
    last_sync_groups: Mapped[int | None] = mapped_column(Integer)
    last_sync_removed: Mapped[int | None] = mapped_column(Integer)
    last_sync_complete: Mapped[bool | None] = mapped_column(Boolean)


class StoredPackageKey(Base):
    """A tenant's AES-256-GCM package key (S3), wrapped under the server's master
    key (server/keyring.py); in clear (base64) only in a store from before 0003,
    until the server's first start wraps it."""

    __tablename__ = "package_keys"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_wrapped: Mapped[str] = mapped_column(String(WRAPPED_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class DirectoryUser(Base):
    """A user the tenant's agents synced up (L5); found again by ``anchor`` (W6)."""

    __tablename__ = "directory_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "anchor", name="uq_directory_users_anchor"),
        # A name typed in the portal or the API is found by these (``find_user``).
        Index("ix_directory_users_sam_key", "tenant_id", "sam_key"),
        Index("ix_directory_users_upn_key", "tenant_id", "upn_key"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    anchor: Mapped[str] = mapped_column(String(128))  # base64url, as on the wire
    sam_account_name: Mapped[str] = mapped_column(String(256))
    user_principal_name: Mapped[str | None] = mapped_column(String(1024))
    #: The two names as a typed name is compared with them (``name_key``),
    #: kept beside them whenever they are set, so that a look-up by name is
    #: an index search at any number of users.
    sam_key: Mapped[str] = mapped_column(String(256), default="", server_default="")
    upn_key: Mapped[str | None] = mapped_column(String(1024))
    mail: Mapped[str | None] = mapped_column(String(1024))
    #: Contact numbers as the directory holds them (free text; G3).
    mobile: Mapped[str | None] = mapped_column(String(64))
    telephone: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: SIDs of the user's security groups, nested membership included, each
    #: between spaces (`` S-1-5-… S-1-5-… ``) so that one is found with LIKE (G6).
    group_sids: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: An administrator assigned self-service to the user (E1); counts only
    #: where the tenant requires assignment. Sync leaves it alone.
    assigned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The portal's language when the user last proved who they are there:
    #: notices to them (G9) are written in it, an administrator's too.
    language: Mapped[str | None] = mapped_column(String(16))

    @validates("sam_account_name", "user_principal_name")
    def _keep_key(self, name: str, value: str | None) -> str | None:
        if name == "sam_account_name":
            self.sam_key = name_key(value or "")
        else:
            self.upn_key = None if value is None else name_key(value)
        return value


def name_key(name: str) -> str:
    """A user's name as names typed are compared with it: case does not count
    (in every script, not only ASCII as SQL's ``lower`` on SQLite)."""
    return name.lower()


class DirectoryGroup(Base):
    """A security group of a tenant's directory, as agents sync them, that the
    self-service scope may name (G6)."""

    __tablename__ = "directory_groups"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    sid: Mapped[str] = mapped_column(String(184), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OperationRecord(Base):
    """One password operation and how it ended; the row a support code finds (E2)."""

    __tablename__ = "operations"

    # A request id is the tenant's own: another tenant may use the same one.
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    request_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    agent_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    operation: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))  # None while in flight
    event_id: Mapped[int | None] = mapped_column(Integer)
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    support_code: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    #: Indexed for pruning (``retention``).
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ServerSecret(Base):
    """A random key of the deployment, made by the migration that adds it.

    Kept in the store so that every server node sharing the database uses the
    same key; wrapped under the master key like the package keys."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_wrapped: Mapped[str] = mapped_column(String(WRAPPED_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PortalFlow(Base):
    """One self-service reset in the portal, step by step (SPEC W8).

    Neither the flow id nor the code is stored: only their hashes (S7).
    ``user_id`` is None for a username that matched nobody (T2): the flow goes
    on the same way and its code step always fails.
    """

    __tablename__ = "portal_flows"
    # T1's counts of one username as typed from one address (``blocks.starts``,
    # ``flow.number_misses``) search it, not every flow of the tenant.
    __table_args__ = (
        Index("ix_portal_flows_who_hash", "tenant_id", "who_hash"),
        Index("ix_portal_flows_help_mailed_at", "tenant_id", "help_mailed_at"),
    )

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), index=True)
    step: Mapped[str] = mapped_column(String(16))
    #: Why the code step cannot pass even with the right code, for support (E2).
    blocked: Mapped[str | None] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Codes tried, the right one included (claimed atomically before comparing).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: New passwords sent to the directory (claimed atomically before each).
    write_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Whether a code mail was sent for this flow (the per-user cap, T1).
    mailed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Code messages (mails, texts, calls) this flow sent: what the per-user
    #: caps count (T1), a message sent again included.
    sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The client address that started it, keyed (``Hasher.client_hash``): code
    #: mails are also capped per user and address (T1).
    client_hash: Mapped[str | None] = mapped_column(String(64))
    #: The password rules the agent reported for this flow's user, as JSON: a
    #: form shown again (after a refusal, a reload) does not ask the agent again.
    rules_json: Mapped[str | None] = mapped_column(Text)
    #: The request id of a writeback whose outcome is unknown: the next
    #: attempt reuses it, so the agent answers from its journal (W1).
    pending_request_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    #: The method of the gate at the number or code step (``email``, ``totp``,
    #: ``mobile_sms``…); None elsewhere.
    gate: Mapped[str | None] = mapped_column(String(32))
    #: The methods whose gates were passed, comma-separated (SPEC G1: one or two).
    gates_passed: Mapped[str] = mapped_column(String(128), default="")
    #: The username as typed, keyed (``Hasher.who_hash``): which security
    #: questions a gate asks depends on it alone (T2).
    who_hash: Mapped[str | None] = mapped_column(String(64))
    #: What the gate asks, JSON: the security questions' keys, or the last
    #: digits of the number a phone gate's code went to.
    challenge: Mapped[str | None] = mapped_column(Text)
    #: SHA-256 of the code mail's link, which finds the flow from another device.
    link_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: ``reset``, or ``unlock``: the code leads to the unlock (W3), a reset offered.
    purpose: Mapped[str] = mapped_column(String(16), default="reset")
    #: When this flow unlocked the account (once per flow).
    unlocked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Phone numbers typed that are not the one on file (T1, counted per address).
    number_misses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the user asked for the administrators' help from this flow (G5; once).
    contacted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: When that request was mailed to them; None: held back by the caps
    #: (``portal.help_requests``), or not yet asked.
    help_mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CodeSend(Base):
    """One code message that went out (a mail, a text, a call): what the
    per-user caps of T1 count, each by the time it was sent."""

    __tablename__ = "code_sends"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    #: The client address of the flow that sent it, keyed (``Hasher.client_hash``).
    client_hash: Mapped[str] = mapped_column(String(64))
    #: ``mail``, ``phone`` or ``link`` (a link mail past the mail caps): each
    #: has its own budget.
    channel: Mapped[str] = mapped_column(String(8))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class GatePolicyRow(Base):
    """A tenant's self-service policy (``policy.gates.GatePolicy``); a tenant
    without a row has the default one."""

    __tablename__ = "gate_policies"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    #: The allowed methods, comma-separated (``policy.gates.Method`` values).
    methods: Mapped[str] = mapped_column(String(256))
    required: Mapped[int] = mapped_column(Integer)
    questions_to_register: Mapped[int] = mapped_column(Integer)
    questions_to_ask: Mapped[int] = mapped_column(Integer)
    registration_required: Mapped[bool] = mapped_column(Boolean)
    reconfirm_days: Mapped[int] = mapped_column(Integer)
    #: ISO 3166 region of numbers written without a country code (G3); None: none.
    phone_region: Mapped[str | None] = mapped_column(String(2))
    #: Addresses of the tenant's administrators for users no code reaches (G5),
    #: comma-separated.
    admin_contacts: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: The tenant's own security questions, JSON: ``[{"id", "en", "pt_br"}]``.
    custom_questions: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    #: Who may use self-service (G6, ``policy.gates.Scope``) and, for a group,
    #: the group's SID.
    scope: Mapped[str] = mapped_column(String(8), default="all", server_default="all")
    scope_group: Mapped[str | None] = mapped_column(String(184))
    #: Whether a user also needs an assignment (``DirectoryUser.assigned``, E1).
    assignment_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    #: G9 mails: to users on a reset or unlock, to administrators on another's reset.
    notify_users: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_admins: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GateRegistration(Base):
    """A verification method a user registered in "My account" (SPEC G2, G3):
    an authenticator app's secret (wrapped under the master key), security
    answers (argon2id hashes, in ``data_json``), or contact data. One of each
    method per user; ``confirmed_at`` is None until the user proved it works
    (an authenticator's first code), and such a row is not on file."""

    __tablename__ = "gate_registrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "method", name="uq_gate_registrations_method"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    method: Mapped[str] = mapped_column(String(32))
    secret_wrapped: Mapped[str | None] = mapped_column(String(WRAPPED_LENGTH))
    data_json: Mapped[str] = mapped_column(Text, default="{}")
    #: The authenticator's last accepted time step: a code is never taken twice.
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """One thing that happened to a user's self-service (SPEC E5): a
    registration item, a gate attempt, a reset, a change, an unlock, a block.
    Never a password, a code or an answer (S7)."""

    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), index=True)
    #: Who acted: ``user`` (self-service), ``admin``, ``system``.
    actor: Mapped[str] = mapped_column(String(16))
    activity: Mapped[str] = mapped_column(String(64))
    #: ``success`` or ``failure``.
    result: Mapped[str] = mapped_column(String(16))
    #: The verification method, for gates and registrations.
    method: Mapped[str | None] = mapped_column(String(32))
    #: Whose attempt, for the T1 counts: the user id, or the username as typed
    #: (keyed) when it matched nobody.
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    detail_json: Mapped[str] = mapped_column(Text, default="{}")


class SelfServiceBlock(Base):
    """A T1 block: a username (as typed, keyed) or a user may not use a part of
    self-service until ``until``. ``client_hash`` None: from every address."""

    __tablename__ = "self_service_blocks"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: Who: the user when known, else the keyed username (``Hasher.who_hash``).
    subject: Mapped[str] = mapped_column(String(64), index=True)
    #: ``questions`` (the security-questions gate) or ``reset`` (starting a flow).
    scope: Mapped[str] = mapped_column(String(16))
    client_hash: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AccountSession(Base):
    """A user signed in to "My account" with the directory password (SPEC U4),
    or, signed in with a password that must be changed first, on the way to
    the forced change.

    Only the token's hash is stored. For the forced change the current
    password is kept sealed (AES-GCM) under a key derived from the token,
    which only the user's cookie holds: the store alone cannot open it (S7).
    """

    __tablename__ = "account_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    #: ``signed_in``, or ``must_change`` (773) / ``password_expired`` (532).
    state: Mapped[str] = mapped_column(String(32))
    sealed_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: What the directory said of the account at sign-in (``writeback`` detail), JSON.
    account_json: Mapped[str] = mapped_column(Text, default="{}")
    #: The password rules the agent reported for the change page, JSON.
    rules_json: Mapped[str | None] = mapped_column(Text)
    #: Password changes tried in this session (claimed atomically before each).
    change_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: A change whose outcome is unknown: the next attempt reuses its request id.
    pending_request_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    #: Changing Security info needs the emailed code too (a password alone is
    #: not enough): its hash, tries, sends, and until when the session may.
    confirm_code_hash: Mapped[str | None] = mapped_column(String(64))
    confirm_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirm_mails: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The absolute end; the idle timeout counts from ``last_seen_at``.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SupportRecord(Base):
    """What one support code finds (SPEC E2); never a password or a code (S7)."""

    __tablename__ = "support_records"

    code: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    #: Indexed for pruning (``retention``).
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH), index=True)
    user_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    username: Mapped[str | None] = mapped_column(String(256))
    request_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    error: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    status: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1024))
    message: Mapped[str] = mapped_column(Text)
    #: What support should know and the user was not told (e.g. "no mail on file").
    note: Mapped[str | None] = mapped_column(Text)
    #: The language the user saw the message in (``en``, ``pt-BR``).
    language: Mapped[str | None] = mapped_column(String(16))


class Admin(Base):
    """An administrator of a tenant (SPEC U1, G7): a cloud account of the
    console, with a password (argon2id) and an authenticator app, both
    required. Invited by a one-time set-up link (only its hash is kept) and
    active once the link set both."""

    __tablename__ = "admins"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_admins_email"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: The sign-in name, lower-cased.
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(128))
    #: ``tenant_admin``, ``helpdesk`` or ``reports`` (console.roles).
    role: Mapped[str] = mapped_column(String(16))
    #: The password as an argon2id hash (never the password itself).
    credential_hash: Mapped[str | None] = mapped_column(String(256))
    #: The authenticator's secret, wrapped under the master key.
    totp_wrapped: Mapped[str | None] = mapped_column(String(WRAPPED_LENGTH))
    #: The last time step a code was taken for: never the same code twice.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    setup_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    setup_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: The admin who invited this one; None: the operator (``passback tenant``).
    invited_by: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: The language of the console when they last signed in (``en``, ``pt_BR``):
    #: the G9 mails to them are written in it.
    language: Mapped[str | None] = mapped_column(String(16))


class AdminSession(Base):
    """An administrator signed in to the console, or half-way: the password was
    right and the authenticator code is still to come. Only the token's hash
    is stored."""

    __tablename__ = "admin_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    admin_id: Mapped[str] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    #: ``second_factor``, ``signed_in``, or a password reset's ``reset_code``
    #: (both codes to type) and ``reset_password`` (both were right).
    state: Mapped[str] = mapped_column(String(16))
    #: Codes tried at the second factor, or at a re-authentication.
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: A self-service password reset: the emailed code's keyed hash.
    code_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: When the administrator last proved the second factor (re-authentication
    #: before resets and policy changes counts from it).
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The passkey ceremony's challenge (base64url), used once.
    challenge: Mapped[str | None] = mapped_column(String(64))


class AdminPasskey(Base):
    """A passkey an administrator registered as a second factor beside the
    authenticator app (G7). Kept apart from users' gate registrations: the
    credential's id, its public key (COSE) and the authenticator's signature
    counter, none of it secret."""

    __tablename__ = "admin_passkeys"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    admin_id: Mapped[str] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    #: base64url, as the browser names it; WebAuthn caps an id at 1023 bytes.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
