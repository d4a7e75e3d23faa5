"""Routes about the tenant's synced users: list, sync, the live account state
read from the directory, and an administrator's writes (W3): password reset,
unlock, require a change at next logon."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import admin_actions, sync, writeback
from passback.server.admin_actions import Acting
from passback.server.api.deps import ActCaller, AssignCaller, PeopleCaller, ServicesDep
from passback.server.api.problems import error_responses
from passback.server.api.schemas import (
    AccountRequest,
    AccountResponse,
    AccountStateOut,
    Assignment,
    BlocksLifted,
    ResetRequest,
    ResetResponse,
    SyncAccepted,
    UserOut,
)
from passback.server.directory_users import PAGE, one_user, pages_of_users
from passback.server.errors import (
    AgentUnavailable,
    ApiError,
    ServiceUnavailable,
)
from passback.server.i18n import negotiate
from passback.server.outcomes import describe, describe_success
from passback.server.portal.notice_mail import Notice
from passback.server.portal.service import Portal, PortalTenant
from passback.server.services import Services
from passback.server.store.models import Tenant

router = APIRouter(prefix="/api/v1", tags=["users"])

UserParam = Annotated[
    str, Path(max_length=1024, description="The user's id, sAMAccountName (any case) or UPN.")
]


@router.get(
    "/users",
    response_class=StreamingResponse,
    summary="List the users the tenant's agents synced",
    description="Every synced user, in name order (any case). Sent as it is read, a "
    f"page of {PAGE} users at a time: the server holds one page in memory however "
    "many users the tenant has.",
    responses={
        200: {"model": list[UserOut], "description": "Every user of the tenant."},
        **error_responses(401, 403),
    },
)
def list_users(caller: PeopleCaller, services: ServicesDep) -> StreamingResponse:
    return StreamingResponse(_users_json(services, caller.tenant_id), media_type="application/json")


_USERS = TypeAdapter(list[UserOut])


def _users_json(services: Services, tenant_id: str) -> Iterator[bytes]:
    """A JSON array of the tenant's users, a page at a time."""
    yield b"["
    separator = b""
    for page in pages_of_users(services.sessions, tenant_id):
        users = [
            UserOut(
                id=u.id,
                anchor=u.anchor,
                sam_account_name=u.sam_account_name,
                user_principal_name=u.user_principal_name,
                mail=u.mail,
                enabled=u.enabled,
                synced_at=u.synced_at,
                assigned=u.assigned,
            )
            for u in page
        ]
        yield separator + _USERS.dump_json(users)[1:-1]
        separator = b","
    yield b"]"


@router.get(
    "/users/{user}/account",
    response_model=AccountStateOut,
    summary="The user's account as the directory has it now",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
async def read_account(
    user: UserParam, caller: PeopleCaller, services: ServicesDep
) -> AccountStateOut:
    """Read by a connected agent, nothing written: enabled, locked out, when
    the password was set and when it expires, whether it must be changed at
    next logon. ``agent_too_old`` (502): the agent did not answer, as an agent
    older than this read does not; upgrade it. Other 502 codes are the
    agent's outcome (``user_not_found``, ``directory_unavailable``, …)."""
    state = await admin_actions.read_account(services, caller.acting, user)
    return AccountStateOut.of(state)


@router.post(
    "/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncAccepted,
    summary="Ask a connected agent for a full sync of the directory users",
    responses=error_responses(401, 403, 503),
)
async def request_sync(caller: ActCaller, services: ServicesDep) -> SyncAccepted:
    try:
        await sync.request_full_sync(services.router, caller.tenant_id)
    except AgentUnavailable:
        raise ServiceUnavailable(describe(Outcome.SERVICE_UNAVAILABLE)[1]) from None
    return SyncAccepted()


@router.post(
    "/users/{user}/password-reset",
    response_model=ResetResponse,
    summary="Reset a user's password in the directory, as an administrator",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def reset_password(
    user: UserParam,
    body: ResetRequest,
    caller: ActCaller,
    services: ServicesDep,
    request: Request,
) -> ResetResponse:
    """The new password is sealed for one connected agent, which writes it to
    the directory and answers at once (SPEC W1, W3). The error's ``code`` says
    why it failed; ``outcome_unknown`` (504) means: send the same request id
    again to learn whether the password was changed."""
    result = await admin_actions.reset_password(
        services,
        caller.acting,
        user,
        body.new_password,
        request_id=str(body.request_id) if body.request_id else None,
        unlock=body.unlock,
        must_change=body.must_change,
    )
    _raise_unless_ok(result)
    _tell_user(request, caller.tenant_id, user, Notice.RESET)
    return ResetResponse(
        request_id=result.request_id, outcome="ok", message=describe(Outcome.OK)[1]
    )


@router.post(
    "/users/{user}/unlock",
    response_model=AccountResponse,
    summary="Unlock a locked-out account in the directory, its password unchanged",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def unlock(
    user: UserParam,
    caller: ActCaller,
    services: ServicesDep,
    request: Request,
    body: AccountRequest | None = None,
) -> AccountResponse:
    """One connected agent sets the account's ``lockoutTime`` to 0 and nothing
    else (SPEC W3): its password binds again at once. An account that is not
    locked is answered ``ok`` too. A disabled account is refused ``disabled``,
    a protected one ``protected``; ``outcome_unknown`` (504) means: send the
    same request id again."""
    answer = await _write_account(Operation.UNLOCK, user, body, caller.acting, services)
    _tell_user(request, caller.tenant_id, user, Notice.UNLOCKED)
    return answer


@router.post(
    "/users/{user}/require-password-change",
    response_model=AccountResponse,
    summary="Make the user change the password at the next sign-in",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def require_password_change(
    user: UserParam,
    caller: ActCaller,
    services: ServicesDep,
    body: AccountRequest | None = None,
) -> AccountResponse:
    """One connected agent sets the account's ``pwdLastSet`` to 0 (SPEC W3):
    the current password no longer signs in until the user changes it. A
    protected account is refused ``protected``; ``outcome_unknown`` (504)
    means: send the same request id again."""
    return await _write_account(Operation.REQUIRE_CHANGE, user, body, caller.acting, services)


async def _write_account(
    operation: Operation,
    user: str,
    body: AccountRequest | None,
    acting: Acting,
    services: Services,
) -> AccountResponse:
    result = await admin_actions.write_account(
        services,
        acting,
        operation,
        user,
        request_id=str(body.request_id) if body and body.request_id else None,
    )
    _raise_unless_ok(result)
    return AccountResponse(
        request_id=result.request_id, outcome="ok", message=describe_success(operation)
    )


def _raise_unless_ok(result: writeback.WritebackResult) -> None:
    if result.outcome is Outcome.OK:
        return
    status_code, message = describe(result.outcome, result.detail)
    raise ApiError(
        message,
        code=result.outcome.value,
        status=status_code,
        detail=dict(result.detail),
        request_id=result.request_id,
        support_code=result.support_code,
    )


@router.delete(
    "/users/{user}/blocks",
    response_model=BlocksLifted,
    summary="Lift the user's self-service blocks (T1)",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def lift_blocks(
    user: UserParam, caller: ActCaller, services: ServicesDep, request: Request
) -> BlocksLifted:
    """Every T1 block of the account, of its names as typed in the portal, and
    from every address; an audit event records it."""
    hasher = cast(Portal, request.app.state.portal).hasher
    lifted = await asyncio.to_thread(
        admin_actions.lift_blocks, services, caller.acting, user, hasher
    )
    return BlocksLifted(lifted=lifted)


@router.put(
    "/users/{user}/assignment",
    response_model=Assignment,
    summary="Assign self-service to the user, or remove the assignment (E1)",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def assign(
    user: UserParam, body: Assignment, caller: AssignCaller, services: ServicesDep
) -> Assignment:
    """Idempotent; an audit event records a change. The assignment counts where
    the policy requires one (`assignment_required`)."""
    await asyncio.to_thread(
        admin_actions.assign, services, caller.acting, user, assigned=body.assigned
    )
    return Assignment(assigned=body.assigned)


def _tell_user(request: Request, tenant_id: str, user: str, notice: Notice) -> None:
    """G9: the user learns of an administrator's reset or unlock by mail, as
    of a self-service one (in the language the caller asked for), once the
    answer is out."""
    portal = cast(Portal, request.app.state.portal)
    language = negotiate(request.headers.get("accept-language"), None)

    def load() -> tuple[PortalTenant, str]:
        with portal.services.sessions() as db:
            tenant = db.get(Tenant, tenant_id)
            assert tenant is not None  # the caller's token names it
            found = PortalTenant(tenant.id, tenant.name, tenant.slug, tenant.refuse_common)
            return found, one_user(db, tenant_id, user).id

    async def tell() -> None:
        tenant, user_id = await asyncio.to_thread(load)
        portal.notify(tenant, user_id, notice, language)

    portal.services.deferred.run_async(tell, f"{notice} notice for {user}")
