"""Pins the public surface that operators, scripts and clients depend on: the
``passback`` commands with their arguments, options and named environment
variables, the exit code of a refused agent, and the server's HTTP routes.

A change here is a change for every deployment: update docs/reference/cli.md or
docs/reference/api.md (and the CHANGELOG) together with this list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from passback import cli
from tests.support.routes import routes


def _parameter(param: click.Parameter) -> str:
    """``NAME`` for an argument, ``--long/-s`` for an option, then the
    environment variables it names itself (not those derived from its path)."""
    if isinstance(param, click.Argument):
        text = param.human_readable_name
    else:
        text = "/".join([*param.opts, *param.secondary_opts])
    if param.envvar:
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        text += f" [{' '.join(names)}]"
    return text


def _commands(command: click.Command, path: str) -> Iterator[tuple[str, list[str]]]:
    yield path, [_parameter(p) for p in command.params]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _commands(command.commands[name], f"{path} {name}")


def test_cli_commands() -> None:
    assert dict(_commands(cli.main, "passback")) == {
        "passback": ["--version", "-v/--verbose"],
        "passback agent": [],
        "passback agent onboard": [
            "--server [PASSBACK_AGENT_ONBOARD_SERVER]",
            "--token",
            "--name",
            "--ldap-url",
            "--bind-dn",
            "--bind-password-file",
            "--search-base",
            "--ldap-ca-file",
            "--ldap-tls-name",
            "--server-ca-file",
            "--config [PASSBACK_AGENT_CONFIG]",
            "--insecure-dev",
        ],
        "passback agent run": ["--config [PASSBACK_AGENT_CONFIG]", "--insecure-dev"],
        "passback demo": ["--dir [PASSBACK_DEMO_DIR]", "--port", "--dc-address"],
        "passback master-key": [],
        "passback master-key rotate": [
            "--data-dir",
            "--database-url",
            "--master-key-file [PASSBACK_MASTER_KEY_FILE]",
            "--new-key-file",
        ],
        "passback server": [
            "--data-dir",
            "--database-url",
            "--master-key-file [PASSBACK_MASTER_KEY_FILE]",
            "--host",
            "--port",
            "--tls-cert",
            "--tls-key",
            "--insecure-dev",
            "--smtp-host",
            "--smtp-port",
            "--smtp-from",
            "--smtp-security",
            "--smtp-username",
            "--smtp-password",
            "--phone-provider",
            "--code-ttl",
            "--public-url",
            "--operation-ttl",
            "--reply-timeout",
            "--support-retention-days",
            "--forwarded-allow-ips",
            "--tls-handshake-timeout",
            "--header-timeout",
            "--keep-alive-timeout",
            "--max-connections",
            "--relay-handshakes",
            "--relay-handshakes-per-address",
            "--lookup-limit",
            "--sign-in-limit",
        ],
        "passback support": [],
        "passback support show": ["CODE", "--data-dir", "--database-url"],
        "passback tenant": [],
        "passback tenant admin-link": [
            "TENANT_ID",
            "--email",
            "--name",
            "--role",
            "--new-setup",
            "--data-dir",
            "--database-url",
            "--master-key-file [PASSBACK_MASTER_KEY_FILE]",
        ],
        "passback tenant create": [
            "NAME",
            "--slug",
            "--admin-email",
            "--admin-name",
            "--plan",
            "--data-dir",
            "--database-url",
            "--master-key-file [PASSBACK_MASTER_KEY_FILE]",
        ],
        "passback tenant onboarding-token": ["TENANT_ID", "--data-dir", "--database-url"],
        "passback tenant plan": ["TENANT_ID", "PLAN", "--data-dir", "--database-url"],
        "passback tenant policy": [
            "TENANT_ID",
            "--methods",
            "--gates",
            "--questions-to-register",
            "--questions-to-ask",
            "--registration-required/--registration-optional",
            "--reconfirm-days",
            "--phone-region",
            "--admin-contacts",
            "--custom-question",
            "--clear-custom-questions",
            "--scope",
            "--scope-group",
            "--assignment-required/--assignment-optional",
            "--notify-users/--no-notify-users",
            "--notify-admins/--no-notify-admins",
            "--data-dir",
            "--database-url",
        ],
        "passback tenant password-policy": [
            "TENANT_ID",
            "--refuse-common/--allow-common",
            "--banned-word",
            "--clear-banned-words",
            "--data-dir",
            "--database-url",
        ],
        "passback tenant revoke-agent": ["TENANT_ID", "AGENT_ID", "--data-dir", "--database-url"],
        "passback tls": [],
        "passback tls create": ["--out", "--host [PASSBACK_TLS_CREATE_HOST]"],
    }


def test_cli_environment_prefix_and_exit_codes() -> None:
    """``PASSBACK_<COMMAND>_<OPTION>`` for every option; 3 for a refused agent."""
    assert cli.main.context_settings["auto_envvar_prefix"] == "PASSBACK"
    assert cli.agent.EXIT_REFUSED == 3


def test_http_routes(tmp_path: Path) -> None:
    assert sorted(routes(tmp_path)) == [
        "DELETE /api/v1/users/{user}/blocks",
        "GET /api/v1/admins",
        "GET /api/v1/agents",
        "GET /api/v1/audit-events",
        "GET /api/v1/audit-events.csv",
        "GET /api/v1/policy",
        "GET /api/v1/portal/{slug}/reset/rules",
        "GET /api/v1/portal/{slug}/status",
        "GET /api/v1/support/{code}",
        "GET /api/v1/users",
        "GET /api/v1/users/{user}/account",
        "GET /api/v1/users/{user}/password-rules",
        "GET /console/{slug}/",
        "GET /console/{slug}/admins",
        "GET /console/{slug}/agents",
        "GET /console/{slug}/confirm",
        "GET /console/{slug}/confirm/passkey",
        "GET /console/{slug}/dashboard",
        "GET /console/{slug}/forgot",
        "GET /console/{slug}/forgot/code",
        "GET /console/{slug}/forgot/password",
        "GET /console/{slug}/people",
        "GET /console/{slug}/people/{user_id}",
        "GET /console/{slug}/policy",
        "GET /console/{slug}/reports",
        "GET /console/{slug}/reports.csv",
        "GET /console/{slug}/security",
        "GET /console/{slug}/security/passkey",
        "GET /console/{slug}/setup/{token}",
        "GET /console/{slug}/signin",
        "GET /console/{slug}/signin/code",
        "GET /console/{slug}/signin/passkey",
        "GET /console/{slug}/support",
        "GET /console/{slug}/tokens",
        "GET /docs",
        "GET /healthz",
        "GET /openapi.json",
        "GET /portal/{slug}/",
        "GET /portal/{slug}/account",
        "GET /portal/{slug}/change",
        "GET /portal/{slug}/code",
        "GET /portal/{slug}/code/{link}",
        "GET /portal/{slug}/done",
        "GET /portal/{slug}/method",
        "GET /portal/{slug}/number",
        "GET /portal/{slug}/passkey",
        "GET /portal/{slug}/password",
        "GET /portal/{slug}/questions",
        "GET /portal/{slug}/security",
        "GET /portal/{slug}/security/authenticator",
        "GET /portal/{slug}/security/confirm",
        "GET /portal/{slug}/security/confirm/code",
        "GET /portal/{slug}/security/contact/{kind}",
        "GET /portal/{slug}/security/contact/{kind}/code",
        "GET /portal/{slug}/security/passkey",
        "GET /portal/{slug}/security/questions",
        "GET /portal/{slug}/security/test/authenticator",
        "GET /portal/{slug}/security/test/passkey",
        "GET /portal/{slug}/signin",
        "GET /portal/{slug}/unlock",
        "GET /portal/{slug}/unlock/confirm",
        "GET /portal/{slug}/unlocked",
        "HEAD /openapi.json",
        "MOUNT /docs/assets",
        "MOUNT /static",
        "PATCH /api/v1/policy",
        "POST /api/v1/admins",
        "POST /api/v1/admins/{admin_id}/disable",
        "POST /api/v1/admins/{admin_id}/enable",
        "POST /api/v1/admins/{admin_id}/setup-link",
        "POST /api/v1/agents/onboard",
        "POST /api/v1/agents/onboarding-tokens",
        "POST /api/v1/agents/{agent_id}/revoke",
        "POST /api/v1/portal/{slug}/reset",
        "POST /api/v1/portal/{slug}/reset/code",
        "POST /api/v1/portal/{slug}/reset/method",
        "POST /api/v1/portal/{slug}/reset/number",
        "POST /api/v1/portal/{slug}/reset/password",
        "POST /api/v1/sync",
        "POST /api/v1/users/{user}/password-reset",
        "POST /api/v1/users/{user}/require-password-change",
        "POST /api/v1/users/{user}/unlock",
        "POST /console/{slug}/admins",
        "POST /console/{slug}/admins/{admin_id}/{action}",
        "POST /console/{slug}/agents/onboarding-token",
        "POST /console/{slug}/agents/{agent_id}/revoke",
        "POST /console/{slug}/confirm",
        "POST /console/{slug}/confirm/passkey",
        "POST /console/{slug}/forgot",
        "POST /console/{slug}/forgot/code",
        "POST /console/{slug}/forgot/password",
        "POST /console/{slug}/people/{user_id}/assignment",
        "POST /console/{slug}/people/{user_id}/lift-blocks",
        "POST /console/{slug}/people/{user_id}/require-change",
        "POST /console/{slug}/people/{user_id}/reset",
        "POST /console/{slug}/people/{user_id}/unlock",
        "POST /console/{slug}/policy",
        "POST /console/{slug}/security/passkey",
        "POST /console/{slug}/security/passkeys/{passkey_id}/remove",
        "POST /console/{slug}/setup/{token}",
        "POST /console/{slug}/signin",
        "POST /console/{slug}/signin/code",
        "POST /console/{slug}/signin/passkey",
        "POST /console/{slug}/signout",
        "POST /console/{slug}/tokens",
        "POST /console/{slug}/tokens/{token_id}/revoke",
        "POST /portal/{slug}/",
        "POST /portal/{slug}/change",
        "POST /portal/{slug}/code",
        "POST /portal/{slug}/code/again",
        "POST /portal/{slug}/code/{link}",
        "POST /portal/{slug}/help",
        "POST /portal/{slug}/method",
        "POST /portal/{slug}/method/again",
        "POST /portal/{slug}/number",
        "POST /portal/{slug}/passkey",
        "POST /portal/{slug}/password",
        "POST /portal/{slug}/questions",
        "POST /portal/{slug}/security/authenticator",
        "POST /portal/{slug}/security/confirm",
        "POST /portal/{slug}/security/confirm/code",
        "POST /portal/{slug}/security/contact/{kind}",
        "POST /portal/{slug}/security/contact/{kind}/code",
        "POST /portal/{slug}/security/passkey",
        "POST /portal/{slug}/security/questions",
        "POST /portal/{slug}/security/review",
        "POST /portal/{slug}/security/test/authenticator",
        "POST /portal/{slug}/security/test/passkey",
        "POST /portal/{slug}/security/{what}/remove",
        "POST /portal/{slug}/signin",
        "POST /portal/{slug}/signout",
        "POST /portal/{slug}/unlock",
        "POST /portal/{slug}/unlock/confirm",
        "PUT /api/v1/users/{user}/assignment",
        "WEBSOCKET /relay/v1",
    ]
