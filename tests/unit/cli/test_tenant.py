"""``passback tenant password-policy``: an operator sets what a tenant refuses as
too easy to guess (the common-password check and the tenant's own words)."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from passback import cli
from passback.cli import store
from passback.server.store.models import Admin


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def _tenant(data: Path) -> str:
    out = _cli("tenant", "create", "Contoso", "--data-dir", str(data)).output
    found = re.search(r"tenant id:\s+(\S+)", out)
    assert found, out
    return found.group(1)


def test_password_policy_sets_and_shows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tenant = _tenant(data)
    policy = ["tenant", "password-policy", tenant, "--data-dir", str(data)]
    shown = _cli(*policy)
    assert shown.exit_code == 0, shown.output
    assert "refuse common passwords: yes" in shown.output  # the default
    assert "(none besides name and slug)" in shown.output

    changed = _cli(*policy, "--banned-word", "Roadrunner", "--banned-word", "Acme")
    assert "banned words:            Roadrunner, Acme" in changed.output
    off = _cli(*policy, "--allow-common")
    assert "refuse common passwords: no" in off.output
    assert "Roadrunner, Acme" in off.output  # kept: not given this time
    cleared = _cli(*policy, "--clear-banned-words", "--refuse-common")
    assert "refuse common passwords: yes" in cleared.output
    assert "(none besides name and slug)" in cleared.output


def test_password_policy_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tenant = _tenant(data)
    both = _cli("tenant", "password-policy", tenant, "--data-dir", str(data),
                "--banned-word", "x", "--clear-banned-words")  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    unknown = _cli("tenant", "password-policy", "no-such-tenant", "--data-dir", str(data))
    assert unknown.exit_code == 1 and "no tenant no-such-tenant" in unknown.output
    broken = _cli("tenant", "password-policy", tenant, "--data-dir", str(data),
                  "--banned-word", "two\nlines")  # fmt: skip
    assert broken.exit_code == 1 and "line break" in broken.output


def test_policy_shows_the_default_then_each_change(tmp_path: Path) -> None:
    """G1, G2, G8: ``passback tenant policy`` validates and shows back."""
    data = tmp_path / "data"
    tenant = _tenant(data)
    policy = ["tenant", "policy", tenant, "--data-dir", str(data)]
    shown = _cli(*policy)
    assert shown.exit_code == 0, shown.output
    assert "methods:               email\n" in shown.output
    assert "gates required:        1" in shown.output
    assert "re-confirm after:      180 days" in shown.output
    two = _cli(*policy, "--methods", "totp, email", "--gates", "2")
    assert two.exit_code == 0, two.output
    assert "methods:               email, totp" in two.output
    assert "gates required:        2" in two.output
    kept = _cli(*policy, "--questions-to-register", "5", "--questions-to-ask", "3",
                "--registration-required", "--reconfirm-days", "0")  # fmt: skip
    assert "methods:               email, totp" in kept.output
    assert "5 to register, 3 asked" in kept.output
    assert "registration required: yes" in kept.output
    assert "re-confirm after:      never" in kept.output
    assert "phone region:          (none: numbers need +country)" in kept.output
    phones = _cli(*policy, "--phone-region", "br", "--admin-contacts", "a@acme.test, b@acme.test")
    assert "phone region:          BR" in phones.output
    assert "admin contacts:        a@acme.test, b@acme.test" in phones.output
    own = _cli(
        *policy,
        "--custom-question", "What was your first team? | Qual era o seu primeiro time?",
        "--custom-question", "Which street did your school stand on?",
    )  # fmt: skip
    assert own.exit_code == 0, own.output
    assert "custom questions:      2" in own.output
    first = re.search(
        r"^  (custom-[0-9a-f]{8})  What was your first team\? \| Qual", own.output, re.M
    )
    assert first is not None, own.output
    kept = _cli(*policy, "--custom-question", "What was your first team?")
    assert f"  {first.group(1)}  What was your first team?\n" in kept.output
    assert "custom questions:      (none)" in _cli(*policy, "--clear-custom-questions").output
    short = _cli(*policy, "--custom-question", "Team?")
    assert short.exit_code == 1 and "10 to 200" in short.output
    cleared = _cli(*policy, "--phone-region", "", "--admin-contacts", "")
    assert "phone region:          (none" in cleared.output
    assert "admin contacts:        (none)" in cleared.output


def test_policy_refuses_an_invalid_policy_and_keeps_the_old_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tenant = _tenant(data)
    policy = ["tenant", "policy", tenant, "--data-dir", str(data)]
    too_few = _cli(*policy, "--gates", "2")
    assert too_few.exit_code == 1
    assert (
        "not changed: 2 gates are required but only 1 different method(s) are allowed"
        in too_few.output
    )
    unknown = _cli(*policy, "--methods", "email,carrier-pigeon")
    assert unknown.exit_code == 1 and "unknown method(s): carrier-pigeon" in unknown.output
    region = _cli(*policy, "--phone-region", "XX")
    assert region.exit_code == 1 and "unknown phone region 'XX'" in region.output
    contacts = _cli(*policy, "--admin-contacts", "help desk@acme.test")
    assert contacts.exit_code == 1 and "not email addresses" in contacts.output
    asked = _cli(*policy, "--questions-to-ask", "9")
    assert asked.exit_code == 1 and "questions asked at a reset" in asked.output
    assert "gates required:        1" in _cli(*policy).output
    assert _cli("tenant", "policy", "nope", "--data-dir", str(data)).exit_code == 1


def test_create_with_an_admin_prints_a_one_time_set_up_link(tmp_path: Path) -> None:
    """U1: the operator's way into a tenant's console."""
    data = tmp_path / "data"
    made = _cli("tenant", "create", "Contoso", "--admin-email", "Ada@Contoso.test",
                "--data-dir", str(data))  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "console:          /console/contoso/" in made.output
    link = re.search(r"set-up link:\s+(/console/contoso/setup/\S+)", made.output)
    assert link is not None and "for ada@contoso.test, once, until" in made.output
    tenant = re.search(r"tenant id:\s+(\S+)", made.output)
    assert tenant is not None
    again = _cli("tenant", "admin-link", tenant.group(1), "--email", "ada@contoso.test",
                 "--role", "helpdesk", "--data-dir", str(data))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert link.group(1) not in again.output  # a new link; the old one is void
    bad = _cli("tenant", "admin-link", tenant.group(1), "--email", "nobody",
               "--data-dir", str(data))  # fmt: skip
    assert bad.exit_code == 1 and "Enter an email address" in bad.output
    unknown = _cli("tenant", "admin-link", "no-such-tenant", "--email", "a@b.test",
                   "--data-dir", str(data))  # fmt: skip
    assert unknown.exit_code == 1 and "no tenant no-such-tenant" in unknown.output


def test_revoke_agent_of_an_unknown_agent_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tenant = _tenant(data)
    gone = _cli("tenant", "revoke-agent", tenant, "no-such-agent", "--data-dir", str(data))
    assert gone.exit_code == 1 and "has no agent no-such-agent" in gone.output


def test_admin_link_sets_up_an_active_administrator_again_only_when_asked(
    tmp_path: Path,
) -> None:
    """The last administrator lost the authenticator: the operator's way back."""
    data = tmp_path / "data"
    tenant = _tenant(data)
    link = ["tenant", "admin-link", tenant, "--email", "ada@contoso.test", "--data-dir", str(data)]
    assert _cli(*link).exit_code == 0
    with store.open_session(data, None) as session:
        row = session.scalar(sa.select(Admin))
        assert row is not None
        row.activated_at = row.created_at  # as if set up
        session.commit()
    refused = _cli(*link)
    assert refused.exit_code == 1 and "exists already" in refused.output
    again = _cli(*link, "--new-setup")
    assert again.exit_code == 0 and "set-up link:" in again.output
    gone = _cli("tenant", "admin-link", tenant, "--email", "x@contoso.test", "--new-setup",
                "--data-dir", str(data))  # fmt: skip
    assert gone.exit_code == 1 and "no active administrator" in gone.output
