"""Errors of the server component.

Exception tree::

    ServerError
    ├── UnknownTenant             no tenant has this id (CLI, tenants.py)
    ├── SlugTaken                 another tenant has this portal slug (tenants.py)
    ├── KeyringError              the master key is missing, unreadable, or not the
    │                             one the store's secrets are wrapped under (keyring.py)
    ├── HubError                  routing a message to an agent failed (relay/local.py)
    │   ├── AgentUnavailable      not connected, or the send failed before delivery
    │   ├── AgentLost             delivered, then the link dropped before a result
    │   ├── ReplyTimeout          delivered, no result within the timeout
    │   └── RequestInProgress     this request id is already waiting for its result
    └── ApiError                  what an API caller is told: .status .code .message
        ├── Unauthorized          401: missing, unknown, used or revoked token
        ├── NotFound              404: no such user (in the caller's tenant)
        ├── Conflict              409: e.g. a request id reused for another user
        ├── Unprocessable         422: input the service cannot take (bad key, password)
        └── ServiceUnavailable    503: no agent of the tenant is connected (W2)

``ApiError.message`` is plain English the caller can act on (SPEC W1, E2); it
never holds a password, a token or a library's own text.
"""

from __future__ import annotations

from typing import Any


class ServerError(Exception):
    pass


class UnknownTenant(ServerError):
    pass


class SlugTaken(ServerError):
    pass


class KeyringError(ServerError):
    pass


class HubError(ServerError):
    pass


class AgentUnavailable(HubError):
    pass


class AgentLost(HubError):
    pass


class ReplyTimeout(HubError):
    pass


class RequestInProgress(HubError):
    pass


class ApiError(ServerError):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        request_id: str | None = None,
        support_code: str | None = None,
        status: int | None = None,
        localized_message: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        username: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail: dict[str, Any] = detail or {}
        self.request_id = request_id
        #: Set when the failure already has a record (an operation); else the
        #: API makes one up; either way it stores the support record (E2).
        self.support_code = support_code
        #: ``message`` in the caller's Accept-Language, where the route knows it.
        self.localized_message = localized_message
        # For the support record only; never shown.
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.username = username


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "invalid_input"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
