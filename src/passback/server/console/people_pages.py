"""The console's People pages (W3, T1): find a synced user, see their state,
and act on them through the agent, with the directory's precise answer.

    GET  /console/{slug}/people?q=                  search
    GET  /console/{slug}/people/{id}                one user, with the account's
                                                    live state and the actions
    POST /console/{slug}/people/{id}/reset          new password (typed or the
                                                    one generated on the page),
                                                    must change, unlock
    POST /console/{slug}/people/{id}/unlock
    POST /console/{slug}/people/{id}/require-change
    POST /console/{slug}/people/{id}/lift-blocks
    POST /console/{slug}/people/{id}/assignment     assigned=1 or empty (E1)

A reset needs the authenticator code proved within the last five minutes
(``sessions.REAUTH_WINDOW``): the form asks for it when it is older. Every
action has its JSON route under ``/api/v1/users/{user}/…``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response

from passback.policy.password import PasswordProblem
from passback.protocol.operations import Operation
from passback.protocol.outcomes import Outcome
from passback.server import admin_actions, support, writeback
from passback.server.admin_actions import Acting
from passback.server.api.problems import status_of
from passback.server.console import people
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Permission
from passback.server.console.service import ConsoleTenant, SignedInAdmin
from passback.server.console.web import (
    SESSION_COOKIE,
    Text,
    check_post,
    confirm_fresh,
    console_of,
    error_page,
    fail,
    page,
    redirect,
    signed_in,
    translator,
)
from passback.server.entitlements import Feature
from passback.server.errors import NotEntitled, Refused
from passback.server.i18n.translations import N_
from passback.server.outcomes import SUCCESS_MESSAGES, describe
from passback.server.portal.notice_mail import Notice
from passback.server.portal.service import Portal
from passback.server.services import Services
from passback.server.store.models import utcnow

router = APIRouter(prefix="/console/{slug}/people", include_in_schema=False)

T = TypeVar("T")

_Action = Callable[[SignedInAdmin, ConsoleTenant], Awaitable[writeback.WritebackResult]]

RESET_DONE = N_(
    "The password was reset in the directory. Give it to the user over a channel you trust."
)
RESET_MUST_CHANGE = N_(
    "The password was reset in the directory; the user must change it at the next sign-in."
)
LIFTED = N_("Self-service blocks lifted: %(n)d.")
ASSIGNED = N_("Self-service is assigned to the user.")
UNASSIGNED = N_("The user's self-service assignment is removed.")
#: The use-cases' refusals in the administrator's language, by code.
REFUSALS = {
    Outcome.USER_NOT_FOUND.value: N_("There is no such user."),
    Outcome.MULTIPLE_MATCHES.value: N_("More than one synced user has this name."),
    "request_in_progress": N_("This account is being written right now. Try again in a moment."),
    "agent_too_old": N_(
        "No connected agent can make the user change the password at the next sign-in in "
        "the same write: upgrade the agents, or reset without it and require the change "
        "afterwards."
    ),
    PasswordProblem.EMPTY.value: N_("Type the new password."),
    PasswordProblem.INVALID.value: N_(
        "The new password holds a character that cannot be stored. Choose another one."
    ),
}
NO_WRITEBACK = N_(
    "Your organisation's plan does not include password writeback: passwords and "
    "accounts cannot be changed in the directory from here."
)
PASSWORD_REFUSALS = {PasswordProblem.EMPTY.value, PasswordProblem.INVALID.value}


@router.get("")
async def search_page(request: Request, slug: str, q: str = "") -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.PEOPLE)
    except ConsoleError as error:
        return await fail(request, slug, error)

    def find() -> people.Found:
        with console.services.sessions() as db:
            found = people.search(db, tenant.id, q)
            db.expunge_all()
            return found

    try:
        found = await asyncio.to_thread(find)
    except ConsoleError as error:  # the query
        return page(
            request,
            t,
            tenant,
            "people.html",
            admin=admin,
            status=error.status,
            error=error,
            q="",
            found=None,
        )
    return page(request, t, tenant, "people.html", admin=admin, q=q, found=found)


@router.get("/{user_id}")
async def person_page(request: Request, slug: str, user_id: str) -> Response:
    t = translator(request)
    console = console_of(request)
    try:
        tenant, admin = await signed_in(request, slug, Permission.PEOPLE)

        def read() -> people.Profile:
            with console.services.sessions() as db:
                found = people.profile(db, tenant.id, user_id, console.hasher, utcnow())
                db.expunge_all()
                return found

        await console.services.deferred.settled()  # the last answers' writes are in
        profile = await asyncio.to_thread(read)
    except ConsoleError as error:
        return await fail(request, slug, error)
    account, unknown = await _account_state(console.services, Acting(tenant.id, admin.id), user_id)
    return page(
        request,
        t,
        tenant,
        "person.html",
        admin=admin,
        profile=profile,
        account=account,
        account_unknown=t.gettext(unknown[0], **unknown[1]) if unknown else None,
        generated=people.generate_password(),
        when=t.datetime,
        may_act=admin.may(Permission.ACT_ON_PEOPLE),
        may_assign=admin.may(Permission.ASSIGN),
        writeback=tenant.has(Feature.WRITEBACK),
        plan=tenant.plan.value,
    )


async def _account_state(
    services: Services, acting: Acting, user_id: str
) -> tuple[admin_actions.AccountState | None, tuple[str, dict[str, object]] | None]:
    """The account as the directory has it now, or why it is not known, as a
    message to translate and its values (the page shows everything else either way)."""
    try:
        return await admin_actions.read_account(services, acting, user_id), None
    except Refused as error:
        words = admin_actions.UNREADABLE.get(error.code)
        if words is not None:
            return None, (words, {})
        return None, (admin_actions.UNREADABLE_OTHER, {"reason": error.code})


@router.post("/{user_id}/reset")
async def reset(
    request: Request,
    slug: str,
    user_id: str,
    password: Text = "",
    must_change: Text = "",
    unlock: Text = "",
    code: Text = "",
    csrf: Text = "",
) -> Response:
    async def act(admin: SignedInAdmin, tenant: ConsoleTenant) -> writeback.WritebackResult:
        await confirm_fresh(request, tenant, admin, code)
        return await admin_actions.reset_password(
            console_of(request).services,
            Acting(tenant.id, admin.id),
            user_id,
            password,
            unlock=bool(unlock),
            must_change=bool(must_change),
        )

    done = RESET_MUST_CHANGE if must_change else RESET_DONE
    return await _act(request, slug, user_id, csrf, act, done, Notice.RESET)


@router.post("/{user_id}/unlock")
async def unlock_account(request: Request, slug: str, user_id: str, csrf: Text = "") -> Response:
    return await _write_account(request, slug, user_id, csrf, Operation.UNLOCK)


@router.post("/{user_id}/require-change")
async def require_change(request: Request, slug: str, user_id: str, csrf: Text = "") -> Response:
    return await _write_account(request, slug, user_id, csrf, Operation.REQUIRE_CHANGE)


@router.post("/{user_id}/lift-blocks")
async def lift_blocks(request: Request, slug: str, user_id: str, csrf: Text = "") -> Response:
    console = console_of(request)

    def lift(acting: Acting) -> int:
        return admin_actions.lift_blocks(console.services, acting, user_id, console.hasher)

    done = await _on_user(request, slug, user_id, csrf, Permission.ACT_ON_PEOPLE, lift)
    if isinstance(done, Response):
        return done
    tenant, lifted = done
    return redirect(request, f"{tenant.base}/people/{user_id}", notice=LIFTED, values={"n": lifted})


@router.post("/{user_id}/assignment")
async def assignment(
    request: Request, slug: str, user_id: str, assigned: Text = "", csrf: Text = ""
) -> Response:
    services = console_of(request).services

    def assign(acting: Acting) -> bool:
        return admin_actions.assign(services, acting, user_id, assigned=bool(assigned))

    done = await _on_user(request, slug, user_id, csrf, Permission.ASSIGN, assign)
    if isinstance(done, Response):
        return done
    notice = ASSIGNED if assigned else UNASSIGNED
    return redirect(request, f"{done[0].base}/people/{user_id}", notice=notice)


async def _on_user(
    request: Request,
    slug: str,
    user_id: str,
    csrf: str,
    permission: Permission,
    action: Callable[[Acting], T],
) -> tuple[ConsoleTenant, T] | Response:
    """Run ``action`` (no directory write) as the signed-in administrator who
    holds ``permission``: the tenant and its result, or the page of why not."""
    tenant: ConsoleTenant | None = None
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console.tenant(slug)
        admin = await console.admin(tenant, token, permission)
        check_post(request, token, csrf)
        return tenant, await asyncio.to_thread(action, Acting(tenant.id, admin.id))
    except (ConsoleError, Refused) as error:
        return await _failed(request, tenant, user_id, error)


async def _write_account(
    request: Request, slug: str, user_id: str, csrf: str, operation: Operation
) -> Response:
    async def act(admin: SignedInAdmin, tenant: ConsoleTenant) -> writeback.WritebackResult:
        return await admin_actions.write_account(
            console_of(request).services, Acting(tenant.id, admin.id), operation, user_id
        )

    notice = Notice.UNLOCKED if operation is Operation.UNLOCK else None
    return await _act(request, slug, user_id, csrf, act, SUCCESS_MESSAGES[operation], notice)


async def _act(
    request: Request,
    slug: str,
    user_id: str,
    csrf: str,
    act: _Action,
    done: str,
    notice: Notice | None = None,
) -> Response:
    """Run ``act`` as the signed-in administrator; on success the user is
    emailed ``notice`` (G9: a reset or an unlock they did not do themselves)."""
    tenant: ConsoleTenant | None = None
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console.tenant(slug)
        admin = await console.admin(tenant, token, Permission.ACT_ON_PEOPLE)
        check_post(request, token, csrf)
        result = await act(admin, tenant)
    except (ConsoleError, Refused) as error:
        return await _failed(request, tenant, user_id, error)
    to = f"{tenant.base}/people/{user_id}"
    if result.outcome is not Outcome.OK:
        refused = ConsoleError.of_outcome(result.outcome, result.detail, result.support_code)
        await asyncio.to_thread(_keep_record, request, tenant, user_id, result, refused)
        return redirect(request, to, error=refused)
    if notice is not None:
        portal = cast(Portal, request.app.state.portal)
        portal.notify(await portal.tenant(slug), user_id, notice, translator(request).locale)
    return redirect(request, to, notice=done)


async def _failed(
    request: Request, tenant: ConsoleTenant | None, user_id: str, error: ConsoleError | Refused
) -> Response:
    if isinstance(error, NotEntitled):
        error = ConsoleError("not_entitled", NO_WRITEBACK, status=403)
    elif isinstance(error, Refused):  # the use-case's: no such user, a password it refused
        status = status_of(error)
        field = "password" if error.code in PASSWORD_REFUSALS else None
        words = REFUSALS.get(error.code, N_("This could not be done: %(reason)s"))
        error = ConsoleError(
            error.code, words, status=status, field=field, values={"reason": error.message}
        )
    if tenant is None or error.code in {"not_signed_in", "forbidden"}:
        return await error_page(request, translator(request), tenant, error)
    return redirect(request, f"{tenant.base}/people/{user_id}", error=error)


def _keep_record(
    request: Request,
    tenant: ConsoleTenant,
    user_id: str,
    result: writeback.WritebackResult,
    refused: ConsoleError,
) -> None:
    """The support record of a refused action (E2), under the code shown."""
    support.record(
        console_of(request).services.sessions,
        support.Incident(
            error=result.outcome.value,
            status=refused.status,
            message=describe(result.outcome, result.detail)[1],
            method="POST",
            path=request.url.path,
            tenant_id=tenant.id,
            user_id=user_id,
            request_id=result.request_id,
            agent_id=result.agent_id,
            event_id=result.event_id or None,
        ),
        result.support_code,
    )
