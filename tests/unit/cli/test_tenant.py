"""``passback tenant password-policy``: an operator sets what a tenant refuses as
too easy to guess (the common-password check and the tenant's own words)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from passback import cli


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
