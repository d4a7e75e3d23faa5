"""A user resets their AD password in the portal, in a real browser
(SPEC W1, W2, W8, E2): headless Chromium from Debian driven by Playwright,
the real server and agent processes (``Deployment``), the real Samba AD DC
and a real SMTP server on loopback that the test reads the code from.

The server speaks TLS with a private CA that Chromium does not know, so the
browser context ignores certificate errors; the agent and the test's HTTP
client verify the server against that CA as usual.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from passback.server.notify.phone_outbox import read_outbox
from tests.support.chromium import chromium, english_page
from tests.support.deployment import Deployment, Tenant
from tests.support.samba import TIMEOUT_FACTOR, SambaDC
from tests.support.smtp import MailCatcher

pytestmark = pytest.mark.samba


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
    # "localhost": passkeys are made for a host name, never an address.
    d = Deployment(
        tmp_path_factory.mktemp("portal-deployment"),
        samba_dc,
        smtp_port=mail.port,
        host="localhost",
    )
    outbox = d.root / "outbox"
    provider = d.root / "phone.toml"
    provider.write_text(f'provider = "outbox"\nfolder = "{outbox}"\n')
    try:
        d.start_server("--phone-provider", str(provider))
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def tenant(deployment: Deployment, samba_dc: SambaDC) -> Tenant:
    t = deployment.connected_tenant("Contoso Browser", "agent-portal")
    return t


@pytest.fixture(scope="module")
def browser(deployment: Deployment) -> Iterator[Browser]:
    with chromium(deployment) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with english_page(browser) as opened:
        yield opened


def test_a_user_resets_their_password_in_the_browser(
    page: Page,
    deployment: Deployment,
    tenant: Tenant,
    samba_dc: SambaDC,
    mail: MailCatcher,
) -> None:
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    portal = f"{deployment.url}/portal/contoso-browser/"

    page.goto(portal)
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Username").fill(user.name)
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
    code = mail.code_for(f"{user.name}@example.test", timeout=30)  # the test DC's mail
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Continue").click()

    # The rules the agent read for this user (the test DC: domain policy, 7+).
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.locator("#rules")).to_contain_text("At least 7 characters")

    page.get_by_label("New password", exact=True).fill("Sh0rt!")
    page.get_by_label("New password again").fill("Sh0rt!")
    page.get_by_role("button", name="Set the new password").click()
    error = page.locator("#new_password-error")
    expect(error).to_have_text("The password must be at least 7 characters long.")
    expect(page.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"Support code: [0-9a-f-]{36}"))
    assert samba_dc.can_bind(user.dn, user.password)  # nothing changed

    new_password = f"N3w!Portal-{uuid.uuid4().hex[:8]}"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your new password is set")

    assert samba_dc.can_bind(user.dn, new_password)
    assert not samba_dc.can_bind(user.dn, user.password)
    # S7: neither the password nor the code is anywhere the deployment wrote.
    for path in deployment.files():
        data = path.read_bytes()
        assert new_password.encode() not in data, path
        assert code.encode() not in data, path


def test_pages_speak_portuguese_when_the_browser_does(
    browser: Browser, deployment: Deployment, tenant: Tenant
) -> None:
    context = browser.new_context(ignore_https_errors=True, locale="pt-BR")
    try:
        page = context.new_page()
        page.goto(f"{deployment.url}/portal/contoso-browser/")
        expect(page.get_by_role("heading", name="Redefina sua senha")).to_be_visible()
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    finally:
        context.close()


def test_sign_in_leads_a_must_change_password_to_the_change_then_signs_in(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC
) -> None:
    """U4, W3: a password that must be changed at next logon (773) cannot
    bind; in the portal the user types it once, chooses a new one, and is in."""
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {"pwdLastSet": [(ldap3.MODIFY_REPLACE, ["0"])]}), admin.result
    deployment.sync(tenant, user.name)

    page.goto(f"{deployment.url}/portal/contoso-browser/signin")
    expect(page.get_by_role("heading", name="Sign in to your account")).to_be_visible()
    page.get_by_label("Username").fill(user.name)
    page.get_by_label("Password").fill("Wrong!Passw0rd-7")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_title(re.compile(r"^Error: Sign in to your account"))
    expect(page.locator("#password-error")).to_contain_text(
        "The username or password is not correct"
    )
    expect(page.get_by_label("Username")).to_have_value(user.name)
    expect(page.get_by_label("Password")).to_be_focused()

    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.get_by_text("requires a new password before you sign in")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_count(0)  # typed once
    new_password = f"N3w!Forced-{uuid.uuid4().hex[:8]}"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change the password").click()

    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    expect(page.locator("dl.account")).to_contain_text(user.name)
    page.reload()  # PRG: a reload shows the page, sends nothing again
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    assert samba_dc.can_bind(user.dn, new_password)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    for path in deployment.files():
        assert new_password.encode() not in path.read_bytes(), path


def test_a_locked_out_user_unlocks_the_account_in_the_browser(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    samba_dc.lock_out(user)

    page.goto(f"{deployment.url}/portal/contoso-browser/unlock")
    expect(page.get_by_role("heading", name="Unlock your account")).to_be_visible()
    page.get_by_label("Username").fill(user.name)
    page.get_by_role("button", name="Continue").click()
    code = mail.code_for(f"{user.name}@example.test", timeout=30)
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Unlock my account").click()
    expect(page.get_by_role("heading", name="Account unlocked")).to_be_visible()
    expect(
        page.get_by_role("link", name="Forgot your password too? Choose a new one")
    ).to_be_visible()
    assert not samba_dc.is_locked(user)
    assert samba_dc.can_bind(user.dn, user.password)


def test_a_user_registers_an_authenticator_and_questions_then_resets_with_both(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    """G1, G2: a policy of two gates (app + questions, email beside them);
    the user registers both in Security info, then resets with them."""
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    with deployment.http(tenant.admin_token) as admin:
        changed = admin.patch(
            "/api/v1/policy",
            json={"methods": ["email", "totp", "questions"], "gates_required": 2,
                  "questions_to_register": 3, "questions_to_ask": 2},
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
    base = f"{deployment.url}/portal/contoso-browser"
    try:
        page.goto(f"{base}/signin")
        page.get_by_label("Username").fill(user.name)
        page.get_by_label("Password").fill(user.password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Security info").click()
        expect(page.get_by_role("heading", name="Security info")).to_be_visible()

        # The password alone changes nothing: a code by mail first.
        page.get_by_role("link", name="Set up an authenticator app").click()
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        page.get_by_role("button", name="Send the code").click()
        confirm = mail.code_for(f"{user.name}@example.test", timeout=30)
        page.get_by_label("Code from the email").fill(confirm)
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("status")).to_contain_text("Confirmed")
        page.get_by_role("link", name="Set up an authenticator app").click()
        expect(page.locator(".qr svg")).to_be_visible()
        secret = page.locator("code.secret").inner_text().replace(" ", "")
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Check the code").click()
        expect(page.get_by_role("status")).to_contain_text("authenticator app is set up")

        page.get_by_role("link", name="Set up security questions").click()
        answers = {}
        for n in range(1, 4):
            question = page.locator(f"#question-{n}").locator("option:checked").inner_text()
            answers[question] = f"Answer number {n} ✓"
            page.locator(f"#answer-{n}").fill(answers[question])
        page.get_by_role("button", name="Save the questions").click()
        expect(page.get_by_role("status")).to_contain_text("security questions are set up")
        page.get_by_role("link", name="Back to my account").click()
        page.get_by_role("button", name="Sign out").click()

        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Prove who you are")).to_be_visible()
        page.get_by_label("A code from my authenticator app").check()
        page.get_by_role("button", name="Continue").click()
        # the next step's code (within the drift): the one that set it up is spent
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(time.time() + 30))
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_text("Done: 1.")).to_be_visible()
        page.get_by_label("My security questions").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Answer your security questions")).to_be_visible()
        for field in page.locator('input[name="answer"]').all():
            label = page.locator(f'label[for="{field.get_attribute("id")}"]').inner_text()
            field.fill(answers[label].upper())
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        new_password = f"N3w!Gates-{uuid.uuid4().hex[:8]}"
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password again").fill(new_password)
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
        assert samba_dc.can_bind(user.dn, new_password)
        for path in deployment.files():  # S7: no answer, secret or password stored
            data = path.read_bytes()
            for secret_text in (new_password, secret, *answers.values()):
                assert secret_text.encode() not in data, path
    finally:
        with deployment.http(tenant.admin_token) as admin:
            admin.patch("/api/v1/policy", json={"methods": ["email"], "gates_required": 1})


def test_a_user_sets_up_a_passkey_then_resets_with_it(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    """G1: the phishing-resistant method, with Chromium's virtual authenticator
    (a platform authenticator that verifies the user)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
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
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    with deployment.http(tenant.admin_token) as admin:
        changed = admin.patch("/api/v1/policy", json={"methods": ["email", "passkey"]})
        assert changed.status_code == 200, changed.text
    base = f"{deployment.url}/portal/contoso-browser"
    try:
        page.goto(f"{base}/signin")
        page.get_by_label("Username").fill(user.name)
        page.get_by_label("Password").fill(user.password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Security info").click()
        page.get_by_role("link", name="Set up a passkey").click()
        page.get_by_role("button", name="Send the code").click()
        confirm = mail.code_for(f"{user.name}@example.test", timeout=30)
        page.get_by_label("Code from the email").fill(confirm)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("link", name="Set up a passkey").click()
        expect(page.get_by_role("heading", name="Set up a passkey")).to_be_visible()
        page.get_by_role("button", name="Set up a passkey").click()
        expect(page.get_by_role("status")).to_contain_text("passkey is set up")
        credentials = cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]}
        )
        assert len(credentials["credentials"]) == 1
        page.get_by_role("link", name="Back to my account").click()
        page.get_by_role("button", name="Sign out").click()

        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("My passkey").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Use your passkey")).to_be_visible()
        page.get_by_role("button", name="Use my passkey").click()
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        new_password = f"N3w!Passkey-{uuid.uuid4().hex[:8]}"
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password again").fill(new_password)
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
        assert samba_dc.can_bind(user.dn, new_password)
    finally:
        with deployment.http(tenant.admin_token) as admin:
            admin.patch("/api/v1/policy", json={"methods": ["email"], "gates_required": 1})


def test_a_text_message_reset_and_what_a_page_offers_when_no_code_comes(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    """G1, G3, G4, G5, T1 in a real browser: the directory's mobile number (synced
    by the agent from the real DC), typed in full; a voice call to the office
    phone; "no code yet?" after 10 seconds (animations sped up by the test,
    not slept); the block page after five wrong numbers, with its end."""
    user = samba_dc.create_user(mobile="+55 11 91234-5678", telephone="+55 11 3333-4444 x 12")
    deployment.sync(tenant, user.name)
    outbox = deployment.root / "outbox"
    with deployment.http(tenant.admin_token) as admin:
        changed = admin.patch(
            "/api/v1/policy",
            json={
                "methods": ["email", "mobile_sms", "office_voice"],
                "admin_contacts": ["helpdesk@example.test"],
            },
        )
        assert changed.status_code == 200, changed.text
    base = f"{deployment.url}/portal/contoso-browser"
    try:
        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("A code by text message to my mobile phone").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Text my mobile phone")).to_be_visible()
        page.get_by_label("Phone number").fill("+55 11 91234 0000")
        page.get_by_role("button", name="Text me a code").click()
        expect(page.locator("#number-error")).to_contain_text("not the number on file")
        expect(page).to_have_title(re.compile("^Error: "))
        page.get_by_label("Phone number").fill("+55 (11) 91234-5678")
        page.get_by_role("button", name="Text me a code").click()
        expect(page.locator("#code-hint")).to_contain_text("ending in 78")

        later = page.get_by_role("button", name="Text the code again")
        expect(later).to_be_hidden()  # for the first 10 seconds
        cdp = page.context.new_cdp_session(page)
        cdp.send("Animation.enable")
        cdp.send("Animation.setPlaybackRate", {"playbackRate": 100})
        page.reload()
        expect(later).to_be_visible()
        expect(page.get_by_role("button", name="Contact your administrator")).to_be_visible()
        page.get_by_role("button", name="Contact your administrator").click()
        expect(page.get_by_role("status")).to_contain_text("We asked your administrators")
        asked = mail.wait_for("helpdesk@example.test", timeout=30)
        assert user.name in str(asked["Subject"])

        text = _wait_for_outbox(outbox, 1)[-1]
        code = re.findall(r"\d{8}", str(text["text"]))[0]
        page.get_by_label("Code from the text message").fill(code)
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()

        # a call to the office phone: the extension is never dialled
        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("A call to my office phone").check()
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Phone number").fill("+55 11 3333 4444")
        page.get_by_role("button", name="Call me").click()
        expect(page.locator("#code-hint")).to_contain_text("We are calling the number ending in 44")
        call = _wait_for_outbox(outbox, 2)[-1]
        assert (call["to"], call["channel"]) == ("+551133334444", "voice")

        # T1: five wrong numbers from this address block phone codes here, until a time shown
        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("A code by text message to my mobile phone").check()
        page.get_by_role("button", name="Continue").click()
        for last in range(5):
            page.get_by_label("Phone number").fill(f"+55 11 91234 100{last}")
            page.get_by_role("button", name="Text me a code").click()
        expect(page.get_by_role("alert")).to_contain_text("blocked from your network until")
        until = re.search(r"until (.+?)\. Choose", page.get_by_role("alert").inner_text())
        assert until is not None and "UTC" in until.group(1)
    finally:
        with deployment.http(tenant.admin_token) as admin:
            admin.delete(f"/api/v1/users/{user.name}/blocks")
            admin.patch(
                "/api/v1/policy",
                json={"methods": ["email"], "gates_required": 1, "admin_contacts": []},
            )


def _wait_for_outbox(folder: Path, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30 * TIMEOUT_FACTOR
    while True:
        found = read_outbox(folder)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, found
            return found
        time.sleep(0.05)


def test_a_user_adds_an_own_mobile_number_then_resets_with_it(
    page: Page, deployment: Deployment, tenant: Tenant, samba_dc: SambaDC, mail: MailCatcher
) -> None:
    """G1, G3: no mobile in the directory; the user adds their own in Security
    info (proved by a text), then a text to it passes the gate."""
    user = samba_dc.create_user()
    deployment.sync(tenant, user.name)
    outbox = deployment.root / "outbox"
    sent_before = len(read_outbox(outbox))
    with deployment.http(tenant.admin_token) as admin:
        changed = admin.patch("/api/v1/policy", json={"methods": ["email", "mobile_sms"]})
        assert changed.status_code == 200, changed.text
    base = f"{deployment.url}/portal/contoso-browser"
    try:
        page.goto(f"{base}/signin")
        page.get_by_label("Username").fill(user.name)
        page.get_by_label("Password").fill(user.password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Security info").click()
        page.get_by_role("link", name="Add a mobile phone").click()
        page.get_by_role("button", name="Send the code").click()
        confirm = mail.code_for(f"{user.name}@example.test", timeout=30)
        page.get_by_label("Code from the email").fill(confirm)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("link", name="Add a mobile phone").click()
        page.get_by_label("Mobile number").fill("+55 11 97777-6666")
        page.get_by_role("button", name="Send a code").click()
        text = _wait_for_outbox(outbox, sent_before + 1)[-1]
        assert text["to"] == "+5511977776666"
        page.get_by_label("Code", exact=True).fill(re.findall(r"\d{8}", str(text["text"]))[0])
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("status")).to_contain_text("It is on file")
        expect(page.get_by_text("•••••••••••66")).to_be_visible()
        page.get_by_role("link", name="Back to my account").click()
        page.get_by_role("button", name="Sign out").click()

        page.goto(f"{base}/")
        page.get_by_label("Username").fill(user.name)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("A code by text message to my mobile phone").check()
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Phone number").fill("+55 11 97777 6666")
        page.get_by_role("button", name="Text me a code").click()
        reset_text = _wait_for_outbox(outbox, sent_before + 2)[-1]
        code = re.findall(r"\d{8}", str(reset_text["text"]))[0]
        page.get_by_label("Code from the text message").fill(code)
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    finally:
        with deployment.http(tenant.admin_token) as admin:
            admin.patch("/api/v1/policy", json={"methods": ["email"], "gates_required": 1})
