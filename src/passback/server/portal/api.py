"""The portal's flow as JSON, for scripts (SPEC §9): the same steps, rules,
rate limits and answers as the pages.

    GET  /api/v1/portal/{slug}/status          W2: may a reset start now?
    POST /api/v1/portal/{slug}/reset           username → flow token (201)
    POST /api/v1/portal/{slug}/reset/method    the method of the next gate (when asked)
    POST /api/v1/portal/{slug}/reset/number    a phone gate: the number on file, in full
    POST /api/v1/portal/{slug}/reset/code      the gate's code (emailed, or an app's)
    GET  /api/v1/portal/{slug}/reset/rules     the rules for this user
    POST /api/v1/portal/{slug}/reset/password  the new password → the directory's answer

The flow token goes back in the ``X-Passback-Flow`` header. Errors have the
API's one body; ``message`` is English and ``localized_message`` follows
``Accept-Language`` (English or Brazilian Portuguese).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, cast

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from passback.policy.gates import Method
from passback.server.api.problems import error_responses, status_of
from passback.server.api.schemas import (
    MAX_PASSWORD_FIELD,
    PASSWORD_FIELD_DESCRIPTION,
    RulesOut,
)
from passback.server.directory_users import MAX_USERNAME
from passback.server.errors import ApiError
from passback.server.i18n import Translator, negotiate
from passback.server.portal.errors import PortalError
from passback.server.portal.flow import Step
from passback.server.portal.gates import registry
from passback.server.portal.gates.base import Code
from passback.server.portal.rules_text import describe_rules
from passback.server.portal.service import Portal, PortalTenant
from passback.server.rules import PasswordRules

FLOW_HEADER = "X-Passback-Flow"

router = APIRouter(prefix="/api/v1/portal/{slug}", tags=["portal"])

flow_header = APIKeyHeader(
    name=FLOW_HEADER,
    scheme_name="FlowToken",
    description="The `flow_token` that starting a reset returned.",
    auto_error=False,
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusOut(BaseModel):
    available: Literal[True] = True
    organisation: str


class StartIn(_Request):
    username: str = Field(max_length=MAX_USERNAME, description="sAMAccountName or UPN.")


class StartOut(BaseModel):
    flow_token: str = Field(description=f"Send it back in `{FLOW_HEADER}`.")
    step: Literal["code", "method"] = Field(
        default="code",
        description="`code`: a code was emailed (the tenant allows only that); "
        "`method`: choose the method of the first gate among `methods`.",
    )
    methods: list[Method] = Field(default_factory=list, description="When `step` is `method`.")
    code_expires_at: dt.datetime
    message: str = Field(
        description="The same for every username (T2): a code was sent if the "
        "account exists and has an email address, or the methods to choose from."
    )


class MethodIn(_Request):
    method: Method = Field(description="One of the `methods` offered.")


class CodeStepOut(BaseModel):
    step: Literal["code", "number"] = Field(
        default="code",
        description="`number`: a phone gate asks for the number on file first "
        "(`POST …/reset/number`); `code`: the gate's code is next.",
    )
    method: Method
    message: str


class NumberIn(_Request):
    number: str = Field(
        max_length=64,
        description="The phone number on file, in full, with the country code "
        "(`+55 11 91234 5678`); without one, read in the tenant's phone region.",
    )


class CodeIn(_Request):
    code: str = Field(
        max_length=32,
        description="The emailed 8-digit code, or the 6-digit code of an authenticator app. "
        "A mail that asks to open a page (sent past the hourly code caps) carries a code "
        "that works only on that page, never here.",
    )


class MethodStepOut(BaseModel):
    """Another gate is needed (the tenant asks for two)."""

    step: Literal["method"] = "method"
    flow_token: str = Field(description=f"The flow's new token, to send in `{FLOW_HEADER}`.")
    methods: list[Method]


class PasswordStepOut(BaseModel):
    step: Literal["password"] = "password"
    flow_token: str | None = Field(
        default=None,
        description=f"Set when the code passed: the flow's new token, to send in "
        f"`{FLOW_HEADER}` from now on (the earlier one no longer works).",
    )
    rules: RulesOut | None = Field(description="None when no agent could tell right now.")
    rules_text: list[str] = Field(description="The rules in words, in the request's language.")


class PasswordIn(_Request):
    new_password: str = Field(
        min_length=1, max_length=MAX_PASSWORD_FIELD, description=PASSWORD_FIELD_DESCRIPTION
    )


class DoneOut(BaseModel):
    outcome: Literal["ok"] = "ok"
    request_id: str
    message: str


def _portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


def _translator(request: Request) -> Translator:
    locale = negotiate(request.headers.get("accept-language"))
    return Translator.for_locale(_portal(request).catalogs, locale)


FlowToken = Annotated[str | None, Depends(flow_header)]


async def _tenant(request: Request, slug: str) -> PortalTenant:
    try:
        return await _portal(request).tenant(slug)
    except PortalError as error:
        raise _api_error(request, error) from None


def _api_error(
    request: Request, error: PortalError, tenant: PortalTenant | None = None, username: str = ""
) -> ApiError:
    english = Translator.for_locale(_portal(request).catalogs, "en")
    detail: dict[str, object] = dict(error.detail)
    if error.field:
        detail["field"] = error.field
    return ApiError(
        error.text(english),
        code=error.code,
        status=status_of(error),
        detail=detail,
        request_id=error.request_id or None,
        support_code=error.support_code,
        localized_message=error.text(_translator(request)),
        tenant_id=tenant.id if tenant else None,
        user_id=error.user_id,
        username=username or None,
    )


def _api_methods(methods: tuple[Method, ...]) -> list[Method]:
    """The methods this API can pass: not those whose gate is only in the
    pages (security questions, a passkey)."""
    return [m for m in methods if registry.gate_of(m).api_refusal is None]


def _rules_out(rules: PasswordRules | None) -> RulesOut | None:
    return RulesOut.of(rules) if rules else None


@router.get(
    "/status",
    response_model=StatusOut,
    summary="Whether a reset can start now (an agent is connected, W2)",
    responses=error_responses(403, 404, 422, 503),
)
async def portal_status(request: Request, slug: str) -> StatusOut:
    tenant = await _tenant(request, slug)
    try:
        await _portal(request).check_available(tenant)
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    return StatusOut(organisation=tenant.name)


@router.post(
    "/reset",
    status_code=status.HTTP_201_CREATED,
    response_model=StartOut,
    summary="Start a self-service reset: a code is emailed to the user",
    responses=error_responses(403, 404, 422, 429, 503),
)
async def start_reset(
    request: Request, slug: str, body: StartIn, background: BackgroundTasks
) -> StartOut:
    """The answer is the same whether or not the username exists (T2); the
    lookups are rate limited per client address."""
    tenant = await _tenant(request, slug)
    t = _translator(request)
    client = request.client.host if request.client else "unknown"
    portal = _portal(request)
    try:
        started = await portal.start(tenant, body.username, client=client, language=t.locale)
        if started.step is Step.CHOOSE:
            choice = await portal.choice(tenant, started.token)
            return StartOut(
                flow_token=started.token,
                step="method",
                methods=_api_methods(choice.methods),
                code_expires_at=started.expires_at,
                message=t.gettext("Choose how to prove who you are."),
            )
    except PortalError as error:
        raise _api_error(request, error, tenant, body.username) from None
    if started.deliver is not None:
        background.add_task(started.deliver)
    return StartOut(
        flow_token=started.token,
        code_expires_at=started.expires_at,
        message=t.gettext("If the account exists and has an email address, we sent it a code."),
    )


@router.post(
    "/reset/method",
    response_model=CodeStepOut,
    summary="Choose the method of the next gate; an email code is sent now",
    responses=error_responses(404, 409, 410, 422),
)
async def choose_method(
    request: Request, slug: str, body: MethodIn, token: FlowToken, background: BackgroundTasks
) -> CodeStepOut:
    tenant = await _tenant(request, slug)
    t = _translator(request)
    gate = registry.gate_of(body.method)
    try:
        if gate.api_refusal is not None:
            raise PortalError("invalid_method", gate.api_refusal, field="method")
        started = await _portal(request).choose(tenant, token, body.method.value, language=t.locale)
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    if started.deliver is not None:
        background.add_task(started.deliver)
    message = t.gettext(gate.chosen)
    if started.step is Step.NUMBER:
        return CodeStepOut(step="number", method=body.method, message=message)
    return CodeStepOut(method=body.method, message=message)


@router.post(
    "/reset/number",
    response_model=CodeStepOut,
    summary="A phone gate: the number on file; if it is right, its code is sent now",
    responses=error_responses(404, 409, 410, 422, 429),
)
async def enter_number(
    request: Request, slug: str, body: NumberIn, token: FlowToken, background: BackgroundTasks
) -> CodeStepOut:
    """G4: the number must be the one on file; a wrong one is counted (5 in an
    hour from one address block phone gates for the account there)."""
    tenant = await _tenant(request, slug)
    t = _translator(request)
    try:
        row = await _portal(request).require(tenant, token, Step.NUMBER)
        method = Method(row.gate or Method.MOBILE_SMS.value)
        started = await _portal(request).enter_number(tenant, token, body.number, language=t.locale)
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    if started.deliver is not None:
        background.add_task(started.deliver)
    if method is Method.MOBILE_SMS:
        message = t.gettext("We texted a code to the number on file.")
    else:
        message = t.gettext("We are calling the number on file: a voice reads you a code.")
    return CodeStepOut(method=method, message=message)


def _password_step(
    request: Request,
    tenant: PortalTenant,
    rules: PasswordRules | None,
    flow_token: str | None = None,
) -> PasswordStepOut:
    t = _translator(request)
    return PasswordStepOut(
        flow_token=flow_token,
        rules=_rules_out(rules),
        rules_text=describe_rules(rules, t, common_refused=tenant.refuse_common),
    )


@router.post(
    "/reset/code",
    response_model=PasswordStepOut | MethodStepOut,
    summary="Check the gate's code; on success the password step opens, or the next gate",
    responses=error_responses(403, 404, 409, 410, 422),
)
async def enter_code(
    request: Request, slug: str, body: CodeIn, token: FlowToken
) -> PasswordStepOut | MethodStepOut:
    tenant = await _tenant(request, slug)
    portal = _portal(request)
    try:
        passed = await portal.enter(
            tenant, token, Code(body.code), language=_translator(request).locale
        )
        new_token = passed.token
        if passed.step is Step.CHOOSE:
            choice = await portal.choice(tenant, new_token)
            return MethodStepOut(flow_token=new_token, methods=_api_methods(choice.methods))
        rules = await portal.password_step(tenant, new_token)
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    return _password_step(request, tenant, rules, new_token)


@router.get(
    "/reset/rules",
    response_model=PasswordStepOut,
    summary="The password rules for the flow's user (password step only)",
    responses=error_responses(404, 409, 410, 422),
)
async def rules(request: Request, slug: str, token: FlowToken) -> PasswordStepOut:
    tenant = await _tenant(request, slug)
    try:
        found = await _portal(request).password_step(tenant, token)
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    return _password_step(request, tenant, found)


@router.post(
    "/reset/password",
    response_model=DoneOut,
    summary="Set the new password in the directory; its answer comes at once (W1)",
    responses=error_responses(404, 409, 410, 422, 502, 503, 504),
)
async def set_password(request: Request, slug: str, body: PasswordIn, token: FlowToken) -> DoneOut:
    """A refusal of the directory (``too_short``, ``in_history``, ``too_young``…)
    keeps the flow at the password step: send another password."""
    tenant = await _tenant(request, slug)
    try:
        result = await _portal(request).set_password(
            tenant, token, body.new_password, None, language=_translator(request).locale
        )
    except PortalError as error:
        raise _api_error(request, error, tenant) from None
    return DoneOut(
        request_id=result.request_id,
        message=_translator(request).gettext(
            "Your new password is set in the directory. Use it from now on, everywhere you sign in."
        ),
    )
