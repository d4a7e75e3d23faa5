"""Errors of the server component.

Exception tree::

    ServerError
    ├── UnknownTenant             no tenant has this id (CLI, tenants.py)
    ├── SlugTaken                 another tenant has this portal slug (tenants.py)
    ├── KeyringError              the master key is missing, unreadable, or not the
    │                             one the store's secrets are wrapped under (keyring.py)
    ├── HubError                  routing a message to an agent failed (relay/local.py)
    │   ├── AgentUnavailable      not connected, or the send failed before delivery
    │   │   └── AgentTooOld       connected, but none announced the feature it needs
    │   ├── AgentLost             delivered, then the link dropped before a result
    │   ├── ReplyTimeout          delivered, no result within the timeout
    │   └── RequestInProgress     this request id is already waiting for its result
    ├── Refused                   a use-case refused the request: .code .message .detail
    │   ├── Unauthorized          missing, unknown, used or revoked token
    │   ├── Forbidden             beyond the caller's role
    │   │   └── NotEntitled       the tenant's plan or the user's assignment lacks it (E1)
    │   ├── NotFound              no such user (in the caller's tenant)
    │   ├── Conflict              the request collides with another one
    │   │   ├── RequestConflict   its request id was used for another request
    │   │   └── RequestBusy       its request id is still being handled
    │   ├── Unprocessable         input the service cannot take (bad key, password)
    │   ├── ServiceUnavailable    no agent of the tenant is connected (W2)
    │   └── AccountUnreadable     the agent could not read the account's state,
    │                             or did not answer (``agent_too_old``)
    └── ApiError                  an answer the HTTP edge gives as it is: .status too

Use-cases raise ``Refused`` and know nothing of HTTP; ``server/api/problems.py``
alone maps each kind to its status and problem body, for the API and the pages.
``message`` is plain English the caller can act on (SPEC W1, E2); it never holds
a password, a token or a library's own text.
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


class AgentTooOld(AgentUnavailable):
    """Agents of the tenant are connected, but none announced the feature the
    operation needs (``protocol.features``): they must be upgraded."""

    def __init__(self, tenant_id: str, feature: str) -> None:
        super().__init__(f"no connected agent of tenant {tenant_id} announces {feature!r}")
        self.feature = feature


class AgentLost(HubError):
    pass


class ReplyTimeout(HubError):
    pass


class RequestInProgress(HubError):
    pass


class Refused(ServerError):
    """A request a use-case will not carry out, and why (no HTTP status: the edge
    maps the kind of refusal to one)."""

    code: str = "refused"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        detail: dict[str, Any] | None = None,
        request_id: str | None = None,
        support_code: str | None = None,
        localized_message: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        username: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: dict[str, Any] = detail or {}
        self.request_id = request_id
        #: Set when the failure already has a record (an operation); else the
        #: edge makes one up; either way it stores the support record (E2).
        self.support_code = support_code
        #: ``message`` in the caller's Accept-Language, where the route knows it.
        self.localized_message = localized_message
        # For the support record only; never shown.
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.username = username


class Unauthorized(Refused):
    code = "unauthorized"


class Forbidden(Refused):
    code = "forbidden"


class NotEntitled(Forbidden):
    """The tenant's plan lacks the feature, or the user is not assigned it or
    not in the self-service scope (E1, G6)."""

    code = "not_entitled"


class NotFound(Refused):
    code = "not_found"


class Conflict(Refused):
    code = "conflict"


class RequestConflict(Conflict):
    code = "request_conflict"


class RequestBusy(Conflict):
    code = "request_in_progress"


class Unprocessable(Refused):
    code = "invalid_input"


class ServiceUnavailable(Refused):
    code = "service_unavailable"


class AccountUnreadable(Refused):
    """``code``: the agent's outcome (``user_not_found``, ``directory_unavailable``,
    …), or ``agent_too_old`` when it did not answer."""

    code = "account_unreadable"


class ApiError(Refused):
    """An answer the HTTP edge gives as it is, with its ``status`` (an outcome of
    the directory, a portal error); raised by route code only."""

    code = "internal_error"

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status
