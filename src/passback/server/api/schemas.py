"""Bodies of the JSON API, as the OpenAPI document shows them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from passback.policy.gates import GatePolicy, Method, Scope
from passback.policy.password import MAX_PASSWORD_UTF16_UNITS
from passback.server.admin_actions import AccountState
from passback.server.console.reports import DEFAULT_DAYS, MAX_DAYS, PAGE_ROWS
from passback.server.console.roles import Role
from passback.server.rules import PasswordRules

#: Audit events one JSON answer holds at most; the CSV export takes them all.
MAX_EVENTS = 1000

#: Longer than any password a directory takes (AD: 256 UTF-16 units), so the
#: service answers ``too_long`` with the limit itself, yet bounded.
MAX_PASSWORD_FIELD = 1024

#: ``new_password`` in the API's bodies.
PASSWORD_FIELD_DESCRIPTION = (
    f"At least 1 character. Active Directory takes at most {MAX_PASSWORD_UTF16_UNITS} "
    "UTF-16 units (a character outside the Basic Multilingual Plane counts as two); a "
    f"longer one, up to {MAX_PASSWORD_FIELD} characters, is answered `too_long`. "
    "Never logged or stored."
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `too_short`.")
    message: str = Field(description="Plain English the user can act on.")
    localized_message: str | None = Field(
        default=None,
        description="`message` in the language of the request's `Accept-Language` "
        "(English or Brazilian Portuguese; see `Content-Language`), on routes that "
        "face end users (the portal API).",
    )
    detail: dict[str, Any] = Field(description="Facts about the error, by name.")
    request_id: str | None = Field(description="The operation's request id, if any.")
    support_code: uuid.UUID | None = Field(
        description="Give this to support: it finds the full server-side record (SPEC E2). "
        "None for an unknown route or method (404, 405), which keeps no record."
    )


class ErrorBody(BaseModel):
    """Every error response of the API has this body (SPEC E2)."""

    error: ErrorInfo


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class OnboardRequest(_Request):
    name: str = Field(min_length=1, max_length=64, description="A name for the agent.")
    public_key: str = Field(
        max_length=4096, description="The agent's RSA-2048 public key, PEM (SubjectPublicKeyInfo)."
    )
    software: str = Field(max_length=64, description="The agent's software and version.")


class PackageKeyOut(BaseModel):
    key_id: str
    key: str = Field(description="The tenant's AES-256 package key, base64 (SPEC S3).")


class OnboardResponse(BaseModel):
    agent_id: str
    tenant_id: str
    relay_secret: str = Field(description="Shown once; the server keeps only its hash.")
    package_key: PackageKeyOut
    relay_path: str = Field(description="Path of the relay WebSocket on this server.")
    heartbeat_interval: int = Field(description="Seconds between heartbeats.")


class AgentOut(BaseModel):
    id: str
    name: str
    software: str
    connected: bool = Field(description="Connected and authenticated to the relay now.")
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    history_on_reset: bool | None = Field(
        description="Whether the directory enforces password history on resets (W4); "
        "unknown until the agent's first heartbeat."
    )
    revoked: bool


class OnboardingTokenOut(BaseModel):
    onboarding_token: str = Field(
        description="One-time token for `passback agent onboard`; shown once, stored hashed."
    )


class UserOut(BaseModel):
    id: str
    anchor: str = Field(description="Immutable directory anchor, base64url (W6).")
    sam_account_name: str
    user_principal_name: str | None
    mail: str | None
    enabled: bool
    synced_at: dt.datetime
    assigned: bool = Field(
        description="An administrator assigned self-service to the user (E1); it counts "
        "where the policy requires an assignment."
    )


class ResetRequest(_Request):
    new_password: str = Field(
        min_length=1, max_length=MAX_PASSWORD_FIELD, description=PASSWORD_FIELD_DESCRIPTION
    )
    request_id: uuid.UUID | None = Field(
        default=None,
        description="Idempotency key: send the same id again to retry safely and learn "
        "the outcome of an earlier attempt.",
    )
    unlock: bool | None = Field(
        default=None, description="Also unlock the account; default: the tenant's setting."
    )
    must_change: bool = Field(
        default=False,
        description="The user must change the password at next logon, in the same write. "
        "An older agent refuses it (an unknown flag): upgrade agents first.",
    )


class AccountRequest(_Request):
    """An unlock or a require-change: no password, only the idempotency key."""

    request_id: uuid.UUID | None = Field(
        default=None,
        description="Idempotency key: send the same id again to retry safely and learn "
        "the outcome of an earlier attempt.",
    )


class ResetResponse(BaseModel):
    request_id: str
    outcome: Literal["ok"]
    message: str


class AccountResponse(ResetResponse):
    """An unlock or a require-change was written; ``message`` says which."""


class SyncAccepted(BaseModel):
    status: Literal["requested"] = "requested"


class AccountStateOut(BaseModel):
    """A user's account as the directory has it now, read by a connected agent."""

    enabled: bool
    locked: bool = Field(description="Locked out now (bad passwords).")
    must_change: bool = Field(
        description="The password must be changed at next logon (pwdLastSet = 0)."
    )
    password_set_at: dt.datetime | None = Field(
        description="When the password was last set; null: not known, or must change."
    )
    password_expires_at: dt.datetime | None = Field(
        description="When the password expires; null: never, or the directory does not say."
    )
    protection: str | None = Field(
        description="Why writeback refuses the account (W5), e.g. protected-group; "
        "null: it does not. Reading it is not refused."
    )

    @classmethod
    def of(cls, state: AccountState) -> AccountStateOut:
        return cls(**dataclasses.asdict(state))


class RulesOut(BaseModel):
    """The password rules of one user (admin API and portal API alike)."""

    source: str = Field(description='"domain", or "pso:<name>" for a fine-grained policy.')
    min_length: int
    complexity: bool
    history_length: int
    min_age_seconds: int
    max_age_seconds: int = Field(description="0: the password never expires.")
    history_on_reset: bool | None = Field(
        default=None,
        description=(
            "Whether the directory checks a reset (portal or admin) against the last "
            "history_length passwords: Active Directory only with the policy-hints "
            "control, Samba not. null: the agent did not say (an older agent)."
        ),
    )
    max_length: int | None = Field(
        default=None,
        description="The longest password the directory takes; null: the agent did not say.",
    )
    policy_hints: bool | None = Field(
        default=None,
        description=(
            "Whether resets carry Active Directory's policy-hints control; "
            "null: the agent did not say."
        ),
    )

    @classmethod
    def of(cls, rules: PasswordRules) -> RulesOut:
        return cls(**dataclasses.asdict(rules))


class CustomQuestionOut(BaseModel):
    id: str = Field(description="Stable: answers registered to it are kept by it.")
    en: str
    pt_br: str | None = Field(description="null: the English text is shown in Portuguese too.")


class CustomQuestionIn(_Request):
    id: str | None = Field(
        default=None,
        max_length=16,
        description="One of the tenant's question ids, to keep it (and its answers) "
        "while its text changes; without it, a question with the same English text keeps "
        "its id, any other is new.",
    )
    en: str = Field(max_length=200)
    pt_br: str | None = Field(default=None, max_length=200)


class PolicyOut(BaseModel):
    """A tenant's self-service policy (SPEC G1, G2, G8)."""

    methods: list[Method] = Field(description="Methods users may prove who they are with.")
    gates_required: int = Field(description="Gates a reset or unlock needs: 1 or 2.")
    questions_to_register: int
    questions_to_ask: int
    registration_required: bool
    reconfirm_days: int = Field(
        description="Days until users confirm their methods again; 0: never."
    )
    phone_region: str | None = Field(
        description="Region (ISO 3166) of phone numbers written without a country code; "
        "null: every number needs one."
    )
    admin_contacts: list[str] = Field(
        description="Addresses the portal emails when a user asks for help because no "
        "code reaches them (G5); empty: not offered."
    )
    custom_questions: list[CustomQuestionOut] = Field(
        description="Security questions the tenant wrote, offered beside the predefined ones."
    )
    scope: Scope = Field(
        description="Who may use self-service (G6): none, the members of scope_group "
        "(nested membership included), or all synced users."
    )
    scope_group: str | None = Field(description="The group's SID when scope is group.")
    assignment_required: bool = Field(
        description="Whether a user also needs an administrator's assignment (E1)."
    )
    notify_users: bool = Field(
        description="Mail a user whose password was reset or whose account was unlocked (G9)."
    )
    notify_admins: bool = Field(
        description="Mail every administrator when another administrator's password is reset (G9)."
    )

    @classmethod
    def of(cls, policy: GatePolicy) -> PolicyOut:
        return cls(
            methods=[m for m in Method if m in policy.methods],
            gates_required=policy.required,
            questions_to_register=policy.questions_to_register,
            questions_to_ask=policy.questions_to_ask,
            registration_required=policy.registration_required,
            reconfirm_days=policy.reconfirm_days,
            phone_region=policy.phone_region,
            admin_contacts=list(policy.admin_contacts),
            custom_questions=[
                CustomQuestionOut(id=q.id, en=q.en, pt_br=q.pt_br) for q in policy.custom_questions
            ],
            scope=policy.scope,
            scope_group=policy.scope_group,
            assignment_required=policy.assignment_required,
            notify_users=policy.notify_users,
            notify_admins=policy.notify_admins,
        )


class PolicyChange(_Request):
    """The fields to change; the others stay as they are. The result must be a
    valid policy as a whole (e.g. two gates need two allowed methods)."""

    methods: list[Method] | None = Field(default=None, max_length=len(Method))
    gates_required: StrictInt | None = Field(default=None, ge=1, le=2)
    questions_to_register: StrictInt | None = Field(default=None, ge=1, le=20)
    questions_to_ask: StrictInt | None = Field(default=None, ge=1, le=20)
    registration_required: StrictBool | None = None
    reconfirm_days: StrictInt | None = Field(default=None, ge=0, le=3650)
    phone_region: str | None = Field(
        default=None, max_length=2, description='ISO 3166 region, e.g. "BR"; "" clears it.'
    )
    admin_contacts: list[Annotated[str, Field(max_length=254)]] | None = Field(
        default=None, max_length=10, description="Replaces the list; [] clears it."
    )
    custom_questions: list[CustomQuestionIn] | None = Field(
        default=None, max_length=20, description="Replaces the list; [] clears it."
    )
    scope: Scope | None = None
    scope_group: str | None = Field(
        default=None, max_length=184, description='A synced group\'s SID; "" clears it.'
    )
    assignment_required: StrictBool | None = None
    notify_users: StrictBool | None = None
    notify_admins: StrictBool | None = None


class Assignment(_Request):
    """A user's self-service assignment (E1)."""

    assigned: StrictBool


class BlocksLifted(BaseModel):
    lifted: int = Field(description="How many blocks were in force and are now lifted.")


class AdminOut(BaseModel):
    """An administrator of the tenant (SPEC U1); never a password, a code, a
    secret or a set-up link."""

    id: str
    email: str
    name: str
    role: Role
    state: Literal["invited", "active", "disabled"] = Field(
        description="invited: the set-up link was not used yet (or a new one was given)."
    )
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None


class InviteRequest(_Request):
    email: str = Field(max_length=254, description="The sign-in name; stored lower-cased.")
    name: str | None = Field(
        default=None, max_length=128, description="Shown in the console; default: the email."
    )
    role: Role


class SetupLinkOut(BaseModel):
    admin_id: str
    setup_link: str = Field(
        description="The one-time set-up link: shown once, the server keeps only its hash. "
        "It sets the administrator's password and authenticator app."
    )
    expires_at: dt.datetime


class AuditFilter(_Request):
    """The filters of the console's Reports page; an unknown parameter is refused."""

    start: str = Field(
        default="",
        alias="from",
        max_length=64,
        description=f"First day, YYYY-MM-DD (UTC); default: {DEFAULT_DAYS - 1} days before "
        f"`to`. A range covers at most {MAX_DAYS} days.",
    )
    to: str = Field(default="", max_length=64, description="Last day, YYYY-MM-DD; default: today.")
    user: str = Field(
        default="", max_length=1024, description="A user's sAMAccountName or UPN (any case)."
    )
    activity: str = Field(
        default="", max_length=64, description="One activity, e.g. `reset_password`."
    )
    result: str = Field(default="", max_length=64, description="`success` or `failure`.")


class AuditEventsQuery(AuditFilter):
    limit: int = Field(
        default=PAGE_ROWS, ge=1, le=MAX_EVENTS, description="The newest events, at most this many."
    )


class AuditEventOut(BaseModel):
    """One event of the audit log (SPEC E5); never a password, a code or an answer."""

    at: dt.datetime = Field(description="When, in UTC.")
    activity: str = Field(description="What happened, e.g. `reset_password`.")
    result: str = Field(description="`success` or `failure`.")
    actor: str = Field(description="Who acted: `user`, `admin` or `system`.")
    user: str | None = Field(description="The user's sAMAccountName; null: no user's event.")
    admin: str | None = Field(description="The email of the administrator who acted, if one did.")
    method: str | None = Field(description="The verification method, where one was used.")
    detail: dict[str, Any] = Field(description="Facts of the event, by name.")


class SupportRecordOut(BaseModel):
    """What a support code finds (SPEC E2), as `passback support show` prints it."""

    code: uuid.UUID
    time: dt.datetime = Field(description="When the error was answered, in UTC.")
    tenant: str | None = Field(description="The tenant's name and portal slug.")
    tenant_id: str | None
    user: str | None = Field(description="The user's sAMAccountName, if the record names one.")
    user_id: str | None
    username: str | None = Field(description="The username as it was typed.")
    method: str
    path: str = Field(description="The request's path (the secret part of a link blanked).")
    request_id: str | None
    operation: str | None = Field(description="The operation of the request id, if any.")
    outcome: str | None = Field(description="The operation's outcome, if any.")
    error: str = Field(description="The error's code.")
    status: int = Field(description="The HTTP status answered.")
    message: str = Field(description="The message shown.")
    language: str | None = Field(description="The language the message was shown in.")
    note: str | None = Field(description="What support should know and the caller was not told.")
    agent_id: str | None
    event_id: int | None = Field(description="The agent's event id (its event log names it).")
