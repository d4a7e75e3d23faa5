""" "My account", change, forced change and unlock end to end (SPEC U4, W3, T2,
S7): the real server and agent processes, the real Samba AD DC and a real SMTP
server on loopback, driven through the pages over HTTPS as a browser would
(cookies, forms, redirects). Each outcome is proven in the directory itself.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import ldap3
import pytest

from tests.support.deployment import Deployment, Tenant
from tests.support.samba import CANNOT_CHANGE_SDDL, SambaDC, TestUser
from tests.support.smtp import MailCatcher

pytestmark = pytest.mark.samba

BASE = "/portal/northwind-traders"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FIELD_ERROR = re.compile(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>')
#: Every password the tests type: none may be anywhere the deployment wrote (S7).
TYPED: set[str] = set()


def new_password() -> str:
    password = f"Zq-{uuid.uuid4().hex[:10]}!7"
    TYPED.add(password)
    return password


@pytest.fixture(scope="module")
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture(scope="module")
def deployment(
    samba_dc: SambaDC, mail: MailCatcher, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("account-deployment"), samba_dc, smtp_port=mail.port)
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def tenant(deployment: Deployment) -> Tenant:
    return deployment.connected_tenant("Northwind Traders", "agent-account")


@pytest.fixture
def user(samba_dc: SambaDC, deployment: Deployment, tenant: Tenant) -> TestUser:
    u = samba_dc.create_user()
    TYPED.add(u.password)
    deployment.sync(tenant, u.name)
    return u


@pytest.fixture
def browser(deployment: Deployment) -> Iterator[httpx.Client]:
    """A client that keeps cookies like a browser (one per test)."""
    with deployment.http() as client:
        yield client


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    TYPED.add(password)
    return client.post(f"{BASE}/signin", data={"username": username, "password": password})


def shown(client: httpx.Client, path: str) -> httpx.Response:
    """The page a refused post redirected to (PRG)."""
    return client.get(f"{BASE}/{path}")


def errors(page: httpx.Response) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(page.text))


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def change(
    client: httpx.Client, new: str, current: str | None = None, confirm: str | None = None
) -> httpx.Response:
    form = client.get(f"{BASE}/change")
    assert 'name="new_password"' in form.text, form.text  # the form (with the last error)
    data = {"new_password": new, "confirm_password": confirm or new, "csrf": csrf(form)}
    if current is not None:
        data["current_password"] = current
    TYPED.update(p for p in (new, current) if p)
    return client.post(f"{BASE}/change", data=data)


def set_attribute(dc: SambaDC, user: TestUser, name: str, value: str) -> None:
    admin = dc.admin()
    assert admin.modify(user.dn, {name: [(ldap3.MODIFY_REPLACE, [value])]}), admin.result


# ---- sign-in (U4, T2) ---------------------------------------------------------


def test_sign_in_with_the_right_password_shows_the_account(
    browser: httpx.Client, user: TestUser
) -> None:
    signed = sign_in(browser, user.name, user.password)
    assert (signed.status_code, signed.headers["location"]) == (303, f"{BASE}/account")
    cookie = signed.headers.get_list("set-cookie")[0].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    page = browser.get(f"{BASE}/account")
    assert page.status_code == 200
    assert user.name in page.text
    assert "Not locked" in page.text
    set_line = page.text.split("Password last set</dt>")[1].split("</dd>")[0]
    assert str(time.gmtime().tm_year) in set_line  # set when the test made the user
    assert "Never" in page.text.split("Password expires</dt>")[1].split("</dd>")[0]


def test_wrong_password_and_unknown_user_answer_alike(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    answers = []
    for name in (user.name, f"nobody{uuid.uuid4().hex[:8]}"):
        assert sign_in(browser, name, "Wrong!Passw0rd-x").headers["location"] == f"{BASE}/signin"
        page = shown(browser, "signin")
        assert page.status_code == 401
        assert errors(page)["password"].startswith("The username or password is not correct")
        answers.append((page.status_code, errors(page)))
    assert answers[0] == answers[1]
    # one bind, one bad password in the directory: no more than a workstation
    assert samba_dc.read(user.dn, "badPwdCount")["badPwdCount"] == [b"1"]


def test_a_disabled_account_is_told_so_only_with_the_right_password(
    browser: httpx.Client, samba_dc: SambaDC, deployment: Deployment, tenant: Tenant
) -> None:
    disabled = samba_dc.create_user(disabled=True)
    deployment.sync(tenant, disabled.name)
    sign_in(browser, disabled.name, disabled.password)
    assert "Your account is disabled." in shown(browser, "signin").text
    assert browser.cookies.get("passback_session") is None  # not signed in


def test_a_locked_account_is_offered_the_unlock(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    """The DC answers "locked" to the right password and to a wrong one alike;
    the portal answers as for a wrong password (T2), pointing to the unlock."""
    samba_dc.lock_out(user)
    answers = []
    for password in (user.password, "Wrong!Passw0rd-z"):
        sign_in(browser, user.name, password)
        page = shown(browser, "signin")
        assert page.status_code == 401
        assert "or the account is locked" in errors(page)["password"]
        assert f'href="{BASE}/unlock"' in page.text
        answers.append(errors(page))
    assert answers[0] == answers[1]


# ---- change (W3) -------------------------------------------------------------


def test_change_writes_the_new_password(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    sign_in(browser, user.name, user.password)
    password = new_password()
    done = change(browser, password, current=user.password)
    assert (done.status_code, done.headers["location"]) == (303, f"{BASE}/account")
    assert "Your password was changed" in browser.get(f"{BASE}/account").text
    assert samba_dc.can_bind(user.dn, password)
    assert not samba_dc.can_bind(user.dn, user.password)  # old password allowed period = 0


def test_change_refusals_say_what_the_directory_said(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    sign_in(browser, user.name, user.password)
    change(browser, new_password(), current="Wrong!Passw0rd-y")
    assert errors(shown(browser, "change")) == {
        "current_password": "Your current password is not correct."
    }
    change(browser, "alllowercaseletters", current=user.password)
    assert "not complex enough" in errors(shown(browser, "change"))["new_password"]
    change(browser, new_password(), current=user.password, confirm="Something-else-1")
    assert errors(shown(browser, "change")) == {
        "confirm_password": "The two passwords are not the same. Type them again."
    }
    with samba_dc.domain_password_settings(minPwdAge=-864000000000):  # one day
        change(browser, new_password(), current=user.password)
        page = shown(browser, "change")
    assert page.status_code == 422
    assert re.search(r"can be changed again after \w+ \d+, \d{4}", errors(page)["new_password"])
    assert samba_dc.can_bind(user.dn, user.password)  # nothing was written


def test_change_to_a_password_in_the_history(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    with samba_dc.domain_password_settings(pwdHistoryLength=5):
        sign_in(browser, user.name, user.password)
        first = new_password()
        assert (
            change(browser, first, current=user.password).headers["location"].endswith("/account")
        )
        change(browser, user.password, current=first)
        page = shown(browser, "change")
    assert "last 5" in errors(page)["new_password"] or "history" in errors(page)["new_password"]
    assert samba_dc.can_bind(user.dn, first)


def test_change_when_the_user_cannot_change_the_password(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    samba_dc.samba_tool("dsacl", "set", f"--objectdn={user.dn}", f"--sddl={CANNOT_CHANGE_SDDL}")
    sign_in(browser, user.name, user.password)
    change(browser, new_password(), current=user.password)
    page = shown(browser, "change")
    assert page.status_code == 409
    assert "you cannot change its password" in page.text
    assert samba_dc.can_bind(user.dn, user.password)


# ---- forced change --------------------------------------------------------------


def test_must_change_at_next_logon_is_changed_in_the_portal(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC
) -> None:
    set_attribute(samba_dc, user, "pwdLastSet", "0")
    assert not samba_dc.can_bind(user.dn, user.password)  # 773
    signed = sign_in(browser, user.name, user.password)
    assert signed.headers["location"] == f"{BASE}/change"
    form = browser.get(f"{BASE}/change")
    assert 'name="current_password"' not in form.text  # typed once, at sign-in
    password = new_password()
    done = change(browser, password)
    assert done.headers["location"] == f"{BASE}/account"
    page = browser.get(f"{BASE}/account")
    assert page.status_code == 200 and "Must be changed now" not in page.text
    assert samba_dc.can_bind(user.dn, password)


# ---- unlock (W3) -------------------------------------------------------------------


def test_unlock_without_a_reset_keeps_the_password(
    browser: httpx.Client, user: TestUser, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    samba_dc.lock_out(user)
    assert browser.get(f"{BASE}/unlock").status_code == 200
    started = browser.post(f"{BASE}/unlock", data={"username": user.name})
    assert started.headers["location"] == f"{BASE}/code"
    code = mail.code_for(f"{user.name}@example.test", timeout=30)
    form = browser.get(f"{BASE}/code")
    passed = browser.post(f"{BASE}/code", data={"code": code, "csrf": csrf(form)})
    assert passed.headers["location"] == f"{BASE}/unlock/confirm"
    confirm = browser.get(f"{BASE}/unlock/confirm")
    unlocked = browser.post(f"{BASE}/unlock/confirm", data={"csrf": csrf(confirm)})
    assert unlocked.headers["location"] == f"{BASE}/unlocked"
    page = browser.get(f"{BASE}/unlocked")
    assert "Your account is unlocked" in page.text
    assert f'href="{BASE}/password"' in page.text  # a reset is offered too
    assert not samba_dc.is_locked(user)
    assert samba_dc.can_bind(user.dn, user.password)  # the old password works again


# ---- who may use self-service (G6, E1) ---------------------------------------------


def _reset_up_to_the_password(browser: httpx.Client, user: TestUser, mail: MailCatcher) -> str:
    """A reset started and its emailed code entered: where the flow leads."""
    started = browser.post(f"{BASE}/", data={"username": user.name})
    assert started.headers["location"] == f"{BASE}/code"
    code = mail.code_for(f"{user.name}@example.test", timeout=30)
    form = browser.get(f"{BASE}/code")
    passed = browser.post(f"{BASE}/code", data={"code": code, "csrf": csrf(form)})
    return passed.headers.get("location", str(passed.status_code))


def test_a_group_scope_honours_nested_membership_in_the_real_directory(
    deployment: Deployment,
    tenant: Tenant,
    samba_dc: SambaDC,
    mail: MailCatcher,
) -> None:
    """The agent syncs tokenGroups: a member of Sales, itself a member of
    Staff, may reset when the scope is Staff; a user outside it is told that
    self-service is not enabled for them, once the code proved who they are."""
    member, outsider = samba_dc.create_user(), samba_dc.create_user()
    _, sales = samba_dc.create_group(member.dn)
    _, staff = samba_dc.create_group(sales)
    deployment.sync(tenant, member.name, outsider.name)
    with deployment.http(tenant.admin_token) as api:
        scoped = api.patch(
            "/api/v1/policy", json={"scope": "group", "scope_group": samba_dc.object_sid(staff)}
        )
        assert scoped.status_code == 200, scoped.text
        try:
            with deployment.http() as browser:
                assert _reset_up_to_the_password(browser, member, mail) == f"{BASE}/password"
                password = new_password()
                done = browser.post(
                    f"{BASE}/password",
                    data={
                        "new_password": password,
                        "confirm_password": password,
                        "csrf": csrf(browser.get(f"{BASE}/password")),
                    },
                    follow_redirects=True,
                )
                assert "Your new password is set in the directory" in done.text, done.text
                assert samba_dc.can_bind(member.dn, password)
            with deployment.http() as browser:
                assert _reset_up_to_the_password(browser, outsider, mail) == "403"
            assert samba_dc.can_bind(outsider.dn, outsider.password)
        finally:
            assert api.patch("/api/v1/policy", json={"scope": "all"}).status_code == 200


def test_no_typed_password_is_anywhere_the_deployment_wrote(deployment: Deployment) -> None:
    """S7, across every path above (runs last in this module)."""
    assert TYPED
    for path in deployment.files():
        data = path.read_bytes()
        for password in TYPED:
            assert password.encode() not in data, path
