"""The console's passkey pages (G7): an administrator's own passkeys, and a
passkey instead of the authenticator code at sign-in and at "Confirm it is
you". Each ceremony's page runs the portal's one script (``passkey.js``);
every other console page runs none.

GET  /console/{slug}/security                        your sign-in methods
GET  /console/{slug}/security/passkey                add one (needs a fresh factor)
POST /console/{slug}/security/passkey                           → 303 security
POST /console/{slug}/security/passkeys/{id}/remove  (a fresh factor) → 303 security
GET  /console/{slug}/signin/passkey                  after the password
POST /console/{slug}/signin/passkey                             → 303 first section
GET  /console/{slug}/confirm/passkey?next=           a fresh factor
POST /console/{slug}/confirm/passkey                            → 303 next
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from passback.server.console import passkeys
from passback.server.console.errors import ConsoleError
from passback.server.console.pages import own_page
from passback.server.console.service import ConsoleTenant, SignedInAdmin
from passback.server.console.sessions import State
from passback.server.console.web import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    Text,
    check_post,
    console_of,
    fail,
    page,
    redirect,
    signed_in_response,
    translator,
)
from passback.server.i18n.translations import N_
from passback.server.portal.gates import passkey
from passback.server.store.models import Admin, utcnow

router = APIRouter(prefix="/console/{slug}", include_in_schema=False)

#: A passkey's answer (JSON from the browser's WebAuthn call).
Credential = Annotated[str, Form(max_length=passkey.MAX_CREDENTIAL)]


def relying_party(request: Request, tenant: ConsoleTenant) -> passkey.RelyingParty:
    public = console_of(request).services.settings.public_url
    return passkey.site(public, str(request.url), tenant.name)


async def _signed_in(request: Request, slug: str) -> tuple[ConsoleTenant, SignedInAdmin]:
    """Any role: one's own sign-in methods are every administrator's."""
    console = console_of(request)
    tenant = await console.tenant(slug)
    return tenant, await console.admin(tenant, request.cookies.get(SESSION_COOKIE))


def _confirm_first(request: Request, tenant: ConsoleTenant, then: str) -> Response:
    return redirect(
        request,
        f"{tenant.base}/confirm?" + urlencode({"next": then}),
        notice=N_("Confirm it is you first."),
    )


# -- your sign-in methods -----------------------------------------------------


@router.get("/security")
async def security_page(request: Request, slug: str) -> Response:
    console = console_of(request)
    try:
        tenant, admin = await _signed_in(request, slug)
    except ConsoleError as error:
        return await fail(request, slug, error)

    def read() -> list[Any]:
        with console.services.sessions() as db:
            rows = passkeys.listed(db, admin.id)
            db.expunge_all()
            return rows

    t = translator(request)
    rows = await asyncio.to_thread(read)
    return page(request, t, tenant, "security.html", admin=admin, passkeys=rows, when=t.datetime)


@router.get("/security/passkey")
async def add_page(request: Request, slug: str) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant, admin = await _signed_in(request, slug)
        if not admin.recently_verified:
            return _confirm_first(request, tenant, f"{tenant.base}/security/passkey")
        rp = relying_party(request, tenant)

        def arm() -> str:
            with console.services.sessions() as db, db.begin():
                row = console.session_of(db, tenant, token, State.SIGNED_IN, utcnow())
                who = db.get(Admin, row.admin_id)
                assert who is not None  # the session is deleted with it
                return passkey.registration_options(
                    rp,
                    challenge=passkeys.new_challenge(row),
                    user_handle=who.id,
                    user_name=who.email,
                    display_name=who.name,
                    exclude=passkeys.credential_ids(db, who.id),
                )

        options = await asyncio.to_thread(arm)
    except ConsoleError as error:
        return await fail(request, slug, error)
    return _ceremony(
        request, tenant, admin, "create", options, "security/passkey", f"{tenant.base}/security"
    )


@router.post("/security/passkey")
async def add(
    request: Request, slug: str, credential: Credential = "", name: Text = "", csrf: Text = ""
) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant, admin = await _signed_in(request, slug)
        check_post(request, token, csrf)
        if not admin.recently_verified:
            return _confirm_first(request, tenant, f"{tenant.base}/security/passkey")
        rp = relying_party(request, tenant)

        def keep() -> ConsoleError | None:
            now = utcnow()
            with console.services.sessions() as db, db.begin():
                row = console.session_of(db, tenant, token, State.SIGNED_IN, now)
                challenge = passkeys.take_challenge(row)
                who = db.get(Admin, row.admin_id)
                assert who is not None
                try:
                    passkeys.register(
                        db, who, rp, challenge=challenge, credential=credential, name=name, now=now
                    )
                except ConsoleError as error:
                    return error  # committed: the challenge is spent
                return None

        refused = await asyncio.to_thread(keep)
    except ConsoleError as error:
        return await fail(request, slug, error)
    if refused is not None:
        return redirect(request, f"{tenant.base}/security/passkey", error=refused)
    return redirect(
        request,
        f"{tenant.base}/security",
        notice=N_("Your passkey is added. You can sign in with it instead of a code."),
    )


@router.post("/security/passkeys/{passkey_id}/remove")
async def remove(request: Request, slug: str, passkey_id: str, csrf: Text = "") -> Response:
    """Allowed with a fresh factor, as adding one is: the authenticator app
    stays, so no one is locked out, and a session taken over cannot strip
    the administrator's passkeys."""
    console = console_of(request)
    try:
        tenant, admin = await _signed_in(request, slug)
        check_post(request, request.cookies.get(SESSION_COOKIE), csrf)
        if not admin.recently_verified:
            return _confirm_first(request, tenant, f"{tenant.base}/security")

        def drop() -> None:
            with console.services.sessions() as db, db.begin():
                passkeys.remove(db, admin.id, passkey_id, utcnow())

        await asyncio.to_thread(drop)
    except ConsoleError as error:
        if error.code == "passkey_not_found":
            return redirect(request, f"{tenant.base}/security", error=error)
        return await fail(request, slug, error)
    return redirect(request, f"{tenant.base}/security", notice=N_("The passkey is removed."))


# -- instead of the authenticator code ------------------------------------------


@router.get("/signin/passkey")
async def sign_in_page(request: Request, slug: str) -> Response:
    console = console_of(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console.tenant(slug)
        options = await console.passkey_options(
            tenant,
            request.cookies.get(SESSION_COOKIE),
            State.SECOND_FACTOR,
            relying_party(request, tenant),
        )
    except ConsoleError as error:
        if tenant is None:
            return await fail(request, slug, error)
        back = "/signin/code" if error.code == "no_passkey" else "/signin"
        return redirect(request, tenant.base + back, error=error)
    return _ceremony(
        request, tenant, None, "get", options, "signin/passkey", f"{tenant.base}/signin/code"
    )


@router.post("/signin/passkey")
async def sign_in(request: Request, slug: str, credential: Credential = "") -> Response:
    console = console_of(request)
    tenant: ConsoleTenant | None = None
    try:
        tenant = await console.tenant(slug)
        check_post(request, None, "")
        verified = await console.second_factor_passkey(
            tenant,
            request.cookies.get(SESSION_COOKIE),
            credential,
            relying_party(request, tenant),
            device=request.cookies.get(DEVICE_COOKIE),
            language=translator(request).locale,
        )
        admin = await console.admin(tenant, verified.token)
    except ConsoleError as error:
        if tenant is None:
            return await fail(request, slug, error)
        again = error.field == "passkey"
        return redirect(request, f"{tenant.base}/signin{'/passkey' if again else ''}", error=error)
    return signed_in_response(request, tenant, admin, verified)


@router.get("/confirm/passkey")
async def confirm_page(request: Request, slug: str, next: str = "") -> Response:
    console = console_of(request)
    try:
        tenant, admin = await _signed_in(request, slug)
        then = own_page(tenant, next)
        options = await console.passkey_options(
            tenant,
            request.cookies.get(SESSION_COOKIE),
            State.SIGNED_IN,
            relying_party(request, tenant),
        )
    except ConsoleError as error:
        return await fail(request, slug, error)
    back = f"{tenant.base}/confirm?" + urlencode({"next": then})
    return _ceremony(request, tenant, admin, "get", options, "confirm/passkey", back, next=then)


@router.post("/confirm/passkey")
async def confirm(
    request: Request, slug: str, credential: Credential = "", next: Text = "", csrf: Text = ""
) -> Response:
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        tenant = await console.tenant(slug)
        check_post(request, token, csrf)
        await console.reauthenticate_passkey(
            tenant,
            token,
            credential,
            relying_party(request, tenant),
            device=request.cookies.get(DEVICE_COOKIE),
        )
    except ConsoleError as error:
        if error.field != "passkey":
            return await fail(request, slug, error)
        again = f"{tenant.base}/confirm/passkey?" + urlencode({"next": own_page(tenant, next)})
        return redirect(request, again, error=error)
    return redirect(request, own_page(tenant, next))


def _ceremony(
    request: Request,
    tenant: ConsoleTenant,
    admin: SignedInAdmin | None,
    ceremony: str,
    options: str,
    action: str,
    back: str,
    next: str = "",
) -> Response:
    t = translator(request)
    back_label = (
        t.gettext("Back to your sign-in methods")
        if ceremony == "create"
        else t.gettext("Use a code from your authenticator app")
    )
    return page(
        request,
        t,
        tenant,
        "passkey.html",
        admin=admin,
        ceremony=ceremony,
        options=options,
        action=action,
        back=back,
        back_label=back_label,
        next=next,
    )
