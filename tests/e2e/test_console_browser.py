"""An administrator works in the console, in a real browser (SPEC U1, G7, W3,
E2, E5): headless Chromium driven by Playwright, the real server and agent
processes (``Deployment``), the real Samba AD DC. The first administrator is
bootstrapped from ``passback tenant admin-link`` with an authenticator app
(codes computed from the key the set-up page shows), then invites a helpdesk
administrator, resets a user with "must change at next logon" (and the
portal's forced change follows), unlocks a locked-out user, filters a report
and downloads its CSV, asks for two gates (and the portal does), and revokes
the agent (its link drops).

Every page is photographed in both languages; ``PASSBACK_SCREENSHOTS`` names
a folder to keep the pictures in (default: the test's temporary folder).
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.chromium import chromium, english_page
from tests.support.deployment import Deployment, Tenant
from tests.support.samba import SambaDC
from tests.support.smtp import MailCatcher

pytestmark = pytest.mark.samba

ADMIN_PASSWORD = "Console-Br0wser-Pa55-e2e"
SLUG = "contoso-console"


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
    d = Deployment(
        tmp_path_factory.mktemp("console-deployment"),
        samba_dc,
        smtp_port=mail.port,
        host="localhost",
    )
    try:
        d.start_server()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def tenant(deployment: Deployment) -> Tenant:
    return deployment.connected_tenant("Contoso Console", "agent-console")


@pytest.fixture(scope="module")
def browser(deployment: Deployment) -> Iterator[Browser]:
    with chromium(deployment) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with english_page(browser, accept_downloads=True) as opened:
        yield opened


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PASSBACK_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def photograph(page: Page, shots: Path, name: str) -> None:
    """The page as it is, then in Portuguese (the switch), then back in English."""
    page.screenshot(path=str(shots / f"{name}-en.png"), full_page=True)
    url = urlsplit(page.url)
    query = [(k, v) for k, v in parse_qsl(url.query) if k != "lang"]
    for lang in ("pt-BR", "en"):
        page.goto(urlunsplit(url._replace(query=urlencode([*query, ("lang", lang)]))))
        expect(page.locator("html")).to_have_attribute("lang", lang)
        if lang != "en":
            page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)


def code_at(secret: str, offset: int) -> str:
    """A code of the step ``offset`` steps from now: each step is taken once."""
    return pyotp.TOTP(secret).at(time.time() + 30 * offset)


def test_an_administrator_works_in_the_console(
    page: Page,
    deployment: Deployment,
    tenant: Tenant,
    samba_dc: SambaDC,
    shots: Path,
) -> None:
    base = f"{deployment.url}/console/{SLUG}"
    linked = deployment.cli(
        "tenant",
        "admin-link",
        tenant.tenant_id,
        "--email",
        "ada@contoso.test",
        "--name",
        "Ada Admin",
        "--data-dir",
        str(deployment.data),
    ).stdout
    found = re.search(r"set-up link:\s+(\S+)", linked)
    assert found is not None, linked

    # Set-up: a password and the authenticator app (the key under the QR code).
    page.goto(deployment.url + found.group(1))
    expect(page.get_by_role("heading", name="Set up your administrator account")).to_be_visible()
    photograph(page, shots, "setup")
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("The same password again").fill(ADMIN_PASSWORD)
    page.get_by_label("The code the app shows now").fill(code_at(secret, -1))
    page.get_by_role("button", name="Finish set-up").click()

    # Sign-in: both gates.
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("ada@contoso.test")
    photograph(page, shots, "signin")
    page.get_by_label("Email address").fill("ada@contoso.test")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Code from your authenticator app")).to_be_visible()
    photograph(page, shots, "code")
    page.get_by_label("Code").fill(code_at(secret, 0))
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Connected")
    expect(page.locator("svg.chart")).to_be_visible()
    photograph(page, shots, "dashboard")

    # A passkey (Chromium's virtual authenticator) as the second factor.
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page.get_by_role("link", name="Your sign-in methods").click()
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name").fill("Office laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("table")).to_contain_text("Office laptop")
    photograph(page, shots, "security")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email address").fill("ada@contoso.test")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Use a passkey").click()
    photograph(page, shots, "signin-passkey")
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # Invite a helpdesk administrator: a set-up link, shown once.
    page.get_by_role("link", name="Administrators").click()
    page.get_by_label("Email address").fill("hal@contoso.test")
    page.get_by_label("Name").fill("Hal Helpdesk")
    page.get_by_label("Role").select_option("helpdesk")
    page.get_by_role("button", name="Create a set-up link").click()
    expect(page.get_by_role("status")).to_contain_text("/console/contoso-console/setup/")
    photograph(page, shots, "admins")

    # Reset with "must change at next logon"; the portal's forced change follows.
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    page.get_by_role("link", name="People").click()
    page.get_by_label("Username, UPN or email address").fill(user.name[:6])
    page.get_by_role("button", name="Search").click()
    photograph(page, shots, "people")
    page.get_by_role("link", name=user.name).click()
    expect(page.get_by_role("heading", name=user.name)).to_be_visible()
    photograph(page, shots, "person")
    generated = page.get_by_label("New password").input_value()
    expect(
        page.get_by_label("The user must change the password at the next sign-in")
    ).to_be_checked()
    page.get_by_role("button", name="Reset the password").click()
    expect(page.get_by_role("status")).to_contain_text("must change it at the next sign-in")
    assert int(samba_dc.read(user.dn, "pwdLastSet")["pwdLastSet"][0]) == 0  # type: ignore[call-overload]

    portal = page.context.new_page()
    portal.goto(f"{deployment.url}/portal/{SLUG}/signin")
    portal.get_by_label("Username").fill(user.name)
    portal.get_by_label("Password").fill(generated)
    portal.get_by_role("button", name="Sign in").click()
    expect(portal.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(portal).to_have_url(re.compile(r"/portal/contoso-console/change$"))
    portal.close()

    # Unlock a locked-out user.
    locked = samba_dc.create_user()
    deployment.sync(tenant, locked.name)
    samba_dc.lock_out(locked)
    page.goto(f"{base}/people?q={locked.name}")
    page.get_by_role("link", name=locked.name).click()
    page.get_by_role("button", name="Unlock", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("unlocked")
    assert not samba_dc.is_locked(locked)

    # A report of resets, and its CSV.
    page.get_by_role("link", name="Reports").click()
    page.get_by_label("Activity", exact=True).select_option("reset_password")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table")).to_contain_text(user.name)
    expect(page.locator("svg.chart")).to_be_visible()
    photograph(page, shots, "reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these rows as CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["activity"], r["user"], r["admin"]) for r in table] == [
        ("reset_password", user.name, "ada@contoso.test")
    ]
    assert generated not in Path(download.value.path()).read_text()

    page.get_by_role("link", name="Support code").click()
    photograph(page, shots, "support")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_role("button", name="Create a token").click()
    expect(page.locator("code.secret")).to_contain_text("pba_")
    photograph(page, shots, "tokens")
    forgot = page.context.browser.new_page() if page.context.browser else None
    assert forgot is not None
    forgot.goto(f"{base}/forgot")
    expect(forgot.get_by_role("heading", name="Reset your console password")).to_be_visible()
    photograph(forgot, shots, "forgot")
    forgot.close()

    # Two gates from now on: the portal asks for two.
    page.get_by_role("link", name="Policy").click()
    photograph(page, shots, "policy")
    page.get_by_label("An authenticator app").check()
    page.get_by_label("Two, of different kinds").check()
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("status")).to_contain_text("The policy is saved")
    portal = page.context.new_page()
    portal.goto(f"{deployment.url}/portal/{SLUG}/")
    portal.get_by_label("Username").fill(user.name)
    portal.get_by_role("button", name="Continue").click()
    expect(portal.get_by_role("heading", name="Prove who you are")).to_be_visible()
    expect(portal.locator("main")).to_contain_text("Your organisation asks for 2 different ways")
    portal.close()

    # G6: self-service for the members of a group the agent synced from the
    # directory (every user is in Domain Users through its primary group).
    page.get_by_role("link", name="Policy").click()
    page.get_by_label("The members of one group").check()
    page.get_by_label("The group", exact=True).fill("domain users")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("status")).to_contain_text("The policy is saved")
    expect(page.get_by_label("The group", exact=True)).to_have_value("Domain Users")
    photograph(page, shots, "policy-scope")
    page.get_by_role("link", name="People").click()
    page.get_by_label("Username, UPN or email address").fill(user.name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=user.name).click()
    expect(page.locator("#self-service-state")).to_contain_text("Enabled for this user.")

    # Revoke the agent: its link drops, and it cannot come back.
    page.get_by_role("link", name="Agents").click()
    photograph(page, shots, "agents")
    page.get_by_role("button", name="Revoke agent-console").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    deployment.wait_disconnected(tenant)
    expect(page.locator("table")).to_contain_text("Revoked")
