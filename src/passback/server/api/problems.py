"""Error responses: one body for every failure (SPEC E2), and no input echoed.

This is where the server's failures become HTTP: the use-cases raise
``server.errors.Refused`` (and the portal its ``PortalError``) without a status;
``status_of`` gives each its status here, for the JSON API and the pages alike.
A console use-case the API shares refuses with a ``ConsoleError``, which has
its own status: the API answers it in English, the field it names in ``detail``.

Every error response stores a support record under its support code
(``server/support.py``), so that the code finds the full record.

FastAPI's own 422 handler returns each invalid value as ``input``; for a body
holding a password that would put the password in a response and in any log
of responses (SPEC S7). Here a validation error names the field and the
problem, never the value.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from passback.printable import printable
from passback.protocol.outcomes import Outcome
from passback.server import support
from passback.server.api.deps import caller_tenant, get_services
from passback.server.api.schemas import ErrorBody, ErrorInfo
from passback.server.console.errors import ConsoleError
from passback.server.errors import (
    AccountUnreadable,
    ApiError,
    Forbidden,
    Refused,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from passback.server.errors import Conflict as ConflictError
from passback.server.errors import NotFound as NotFoundError
from passback.server.outcomes import describe
from passback.server.portal.errors import PortalError, Refusal
from passback.server.support import Incident

logger = logging.getLogger(__name__)

#: The status of each kind of refusal; a subclass takes its nearest listed base.
REFUSAL_STATUS: Mapping[type[Refused], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFoundError: 404,
    ConflictError: 409,
    Unprocessable: 422,
    ServiceUnavailable: 503,
    AccountUnreadable: 502,  # the agent, upstream, could not answer
}

#: The status of each portal error that is not a directory outcome, by code.
PORTAL_STATUS: Mapping[str, int] = {
    "tenant_not_found": 404,
    "service_unavailable": 503,
    "rate_limited": 429,
    "invalid_username": 422,
    "empty": 422,
    "mismatch": 422,
    "invalid": 422,
    "request_in_progress": 409,
    "request_conflict": 409,
    "cross_site": 403,
    "csrf_failed": 403,
    # "My account" (portal/account.py)
    "wrong_credentials": 401,
    "sign_in_throttled": 429,
    "not_signed_in": 401,
    "wrong_current_password": 422,
    "too_many_changes": 410,
    "already_registered": 409,
    "method_not_allowed": 403,
    "invalid_method": 422,
    "blocked": 429,
    "questions_blocked": 429,
    "invalid_question": 422,
    "confirm_first": 403,
    "no_mail": 409,
    "too_many_confirm_codes": 429,
    "invalid_answer": 422,
    "not_enough_methods": 409,
    "not_enabled": 403,
    "no_admin_contacts": 409,
    "passkey_refused": 422,
    "invalid_address": 422,
    "invalid_number": 422,
    "wrong_number": 422,
    "phone_blocked": 429,
    Outcome.DISABLED.value: 409,
    Outcome.LOCKED.value: 409,
    Outcome.ACCOUNT_EXPIRED.value: 409,
    Outcome.LOGON_HOURS.value: 409,
    Outcome.WORKSTATION.value: 409,
    Refusal.NO_FLOW.value: 409,
    Refusal.EXPIRED.value: 410,
    Refusal.WRONG_STEP.value: 409,
    Refusal.WRONG_CODE.value: 422,
    Refusal.TOO_MANY_CODES.value: 410,
    Refusal.TOO_MANY_PASSWORDS.value: 410,
    Refusal.BUSY.value: 409,
    Refusal.ENDED.value: 410,
}


def status_of(error: Refused | PortalError) -> int:
    """The HTTP status of ``error``, for the API and the pages."""
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, PortalError):
        if error.outcome is not None:
            return describe(error.outcome, error.detail)[0]
        return PORTAL_STATUS.get(error.code, 500)
    for kind in type(error).__mro__:
        if kind in REFUSAL_STATUS:
            return REFUSAL_STATUS[kind]
    return 500


#: A body past ``bodies.MAX_BODY``.
BODY_TOO_LARGE = "The request body is larger than any this server takes."

_DESCRIPTIONS = {
    400: "The body could not be read (JSON must be UTF-8), or, with a public URL "
    "configured, the Host is not this server's (`unknown_host`).",
    401: "Missing, unknown or revoked bearer token.",
    403: "The token's administrator has no role for this (a helpdesk or reports token).",
    404: "No such object in the caller's tenant.",
    409: "The account or the request is in a state that does not allow it.",
    410: "The flow has expired or ended; start again.",
    413: BODY_TOO_LARGE,
    422: "The request is not valid, or the password was refused by policy.",
    429: "Too many requests from this client address; wait and try again.",
    502: "The agent or the directory failed; the password was not changed.",
    503: "No agent of the tenant is connected (W2).",
    504: "The agent did not answer; the outcome is unknown (retry with the same request id).",
}

#: Messages for common validation errors, by pydantic error type. Others use
#: pydantic's text unless its context may quote the input.
_VALIDATION_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "This field is not allowed.",
    "string_type": "This must be a string.",
    "bool_type": "This must be true or false.",
    "bool_parsing": "This must be true or false.",
    "int_type": "This must be a whole number.",
    "int_parsing": "This must be a whole number.",
    "uuid_type": "This must be a UUID.",
    "uuid_parsing": "This must be a UUID.",
    "json_invalid": "The body is not valid JSON.",
    "model_attributes_type": "The body must be a JSON object.",
    "dict_type": "The body must be a JSON object.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route's OpenAPI entry for these error statuses."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    detail: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    support_code: str | None = None,
    headers: Mapping[str, str] | None = None,
    localized_message: str | None = None,
    recorded: bool = True,
) -> JSONResponse:
    """``recorded``: a support record exists (else no support code is given)."""
    code_given = uuid.UUID(support_code) if support_code else uuid.uuid4()
    info = ErrorInfo(
        code=code,
        message=message,
        localized_message=localized_message,
        detail=dict(detail or {}),
        request_id=request_id,
        support_code=code_given if recorded else None,
    )
    body = ErrorBody(error=info).model_dump(mode="json")
    if localized_message is None:
        del body["error"]["localized_message"]  # only routes facing end users have it
    return JSONResponse(body, status_code=status, headers=headers)


async def store_record(
    request: Request, incident: Incident, code: str, *, promised: bool = False
) -> bool:
    """Store the support record of an error being answered; whether it was
    stored (else the answer gives no support code).

    An error answered before anyone is known (no admin token accepted, and no
    support code ``promised`` by the use-case) is recorded only within its
    client address's budget, so that a stranger cannot fill the store or hold
    its write lock. A failure to store it is logged with the code and the
    incident, and the error response still goes out: it must not hide the
    error it reports.
    """
    services = get_services(request)
    stranger = not promised and caller_tenant(request) is None
    client = request.client.host if request.client else None
    if stranger and not await services.may_record(client):
        return False
    try:
        await asyncio.to_thread(support.record, services.sessions, incident, code)
    except Exception:
        logger.exception(
            "support: could not store the record of support code %s: %s",
            code,
            printable(incident),
            extra={"support_code": code},
        )
    return True


def _noted(support_code: str, kept: bool) -> str:
    """How a log line names an error's support record: by its code, or as
    not kept (the client address's record budget is spent)."""
    return (
        f"support code {support_code}" if kept else "no support record: over the address's budget"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(Refused, _api_error)
    app.add_exception_handler(ConsoleError, _console_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    status = status_of(exc)
    support_code = exc.support_code or str(uuid.uuid4())
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    incident = Incident(
        error=exc.code,
        status=status,
        message=exc.message,
        method=request.method,
        path=request.url.path,
        tenant_id=exc.tenant_id or caller_tenant(request),
        user_id=exc.user_id,
        username=exc.username,
        request_id=exc.request_id,
    )
    kept = await store_record(
        request, incident, support_code, promised=exc.support_code is not None
    )
    logger.warning(
        "api: %s %s → %d %s (request %s, %s)",
        request.method,
        printable(request.url.path),
        status,
        exc.code,
        printable(exc.request_id),
        _noted(support_code, kept),
        extra={
            "code": exc.code,
            "request_id": exc.request_id,
            "support_code": support_code if kept else None,
        },
    )
    return error_response(
        status,
        exc.code,
        exc.message,
        detail=exc.detail,
        request_id=exc.request_id,
        support_code=support_code,
        headers=headers,
        localized_message=exc.localized_message,
        recorded=kept,
    )


async def _console_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConsoleError)
    detail: dict[str, Any] = {k: v for k, v in exc.values.items() if isinstance(v, int | str)}
    if exc.field:
        detail["field"] = exc.field
    refused = ApiError(
        exc.english, code=exc.code, status=exc.status, detail=detail, support_code=exc.support_code
    )
    return await _api_error(request, refused)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_describe(error) for error in exc.errors()]
    support_code = str(uuid.uuid4())
    message = "The request is not valid: " + "; ".join(
        f"{e['field']}: {e['message']}" for e in errors
    )
    incident = Incident(
        "validation_failed", 422, message, method=request.method, path=request.url.path
    )
    kept = await store_record(request, incident, support_code)
    logger.info(
        "api: %s %s → 422 invalid request %s (%s)",
        request.method,
        printable(request.url.path),
        printable(errors),
        _noted(support_code, kept),
        extra={"support_code": support_code if kept else None},
    )
    return error_response(
        422,
        "validation_failed",
        message,
        detail={"errors": errors},
        support_code=support_code,
        recorded=kept,
    )


def _describe(error: Mapping[str, Any]) -> dict[str, str]:
    """Field and problem of one validation error, without its ``input``."""
    kind = str(error.get("type", ""))
    message = _VALIDATION_MESSAGES.get(kind)
    context = error.get("ctx") or {}
    if kind == "string_too_short":
        message = f"This must be at least {int(context['min_length'])} characters long."
    elif kind == "string_too_long":
        message = f"This must be at most {int(context['max_length'])} characters long."
    elif kind == "greater_than_equal" and isinstance(context.get("ge"), int):
        message = f"This must be at least {context['ge']}."
    elif kind == "less_than_equal" and isinstance(context.get("le"), int):
        message = f"This must be at most {context['le']}."
    if message is None:
        quoted = "error" in context or any(isinstance(v, str) and v for v in context.values())
        message = "This value is not valid." if quoted else str(error.get("msg", "Not valid."))
    field = ".".join(str(part) for part in error.get("loc", ()))
    return {"field": field, "message": message}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    # FastAPI raises 400 when a body cannot be decoded at all (JSON that is not
    # UTF-8, a broken form); JSON it can decode but not parse is a 422.
    code = {
        400: "unreadable_body",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
    }.get(exc.status_code, "http_error")
    message = {
        400: "The request body could not be read: send JSON in UTF-8.",
        404: "There is no such page or API route.",
        405: "This API route does not take this HTTP method.",
        413: BODY_TOO_LARGE,
    }.get(exc.status_code, "The request could not be served.")
    if exc.status_code in _UNRECORDED:
        # A path or method that does not exist (a browser's /favicon.ico, a
        # scanner), a body no form or route takes: nothing an operator looks
        # up, and nothing a stranger may make the server store.
        return error_response(exc.status_code, code, message, headers=exc.headers, recorded=False)
    support_code = str(uuid.uuid4())
    incident = Incident(
        code, exc.status_code, message, method=request.method, path=request.url.path
    )
    kept = await store_record(request, incident, support_code)
    return error_response(
        exc.status_code,
        code,
        message,
        headers=exc.headers,
        support_code=support_code,
        recorded=kept,
    )


_UNRECORDED = frozenset({404, 405, 413})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    support_code = str(uuid.uuid4())
    logger.error(
        "api: %s %s failed (support code %s)",
        request.method,
        printable(request.url.path),
        support_code,
        exc_info=exc,
        extra={"support_code": support_code},
    )
    message = "Something went wrong on the server. Give the support code to your administrator."
    incident = Incident(
        "internal_error", 500, message, method=request.method, path=request.url.path
    )
    kept = await store_record(request, incident, support_code)
    return error_response(500, "internal_error", message, support_code=support_code, recorded=kept)
