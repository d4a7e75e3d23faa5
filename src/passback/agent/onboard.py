"""Onboarding (SPEC L1): the agent makes its key pair, registers the public
half with the server using a one-time token, and writes what it receives — its
relay secret and the tenant's package key — to its config file (0600).

Events: 31004 start, 31018 key pair, 31017 token accepted, 31005 done; or
32009 (token refused), 32011 (server unreachable), 32008 (bad reply), 32007
(config not written), 33009 (the directory settings do not work).
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from passback import __version__
from passback.agent.config import (
    AgentConfig,
    ConfigError,
    DirectoryConfig,
    save,
    write_private,
)
from passback.agent.events import EventId, EventLog, Level
from passback.crypto.errors import KeyFormatError
from passback.crypto.keys import (
    PackageKey,
    generate_private_key,
    private_key_to_pem,
    public_key_to_pem,
)

ONBOARD_PATH = "/api/v1/agents/onboard"
TIMEOUT = 30.0


class OnboardingError(Exception):
    """Onboarding did not complete; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class OnboardRequest:
    server_url: str
    token: str = dataclasses.field(repr=False)
    name: str
    directory: DirectoryConfig
    config_path: Path
    server_ca_file: Path | None = None
    insecure_dev: bool = False


def onboard(
    request: OnboardRequest,
    *,
    check_directory: Callable[[DirectoryConfig], None],
    events: EventLog,
) -> AgentConfig:
    """Run onboarding end to end and return the written config.

    ``check_directory`` binds to the directory with the given settings and
    raises if that fails: better to learn it now than at the first reset.

    Raises:
        OnboardingError: with the operator's next step in the message.
    """
    events.emit(EventId.OnboardingEventStart, f"onboarding agent {request.name!r}")
    scheme = urlsplit(request.server_url).scheme
    if scheme not in ("https", "http") or (scheme == "http" and not request.insecure_dev):
        raise OnboardingError(
            f"{request.server_url}: the server URL must be https:// "
            "(http:// only with --insecure-dev)"
        )
    try:
        check_directory(request.directory)
    except Exception as exc:
        events.emit(
            EventId.ADConfigurationError, f"directory check failed: {exc}", level=Level.ERROR
        )
        raise OnboardingError(f"the directory settings do not work: {exc}") from exc

    key = generate_private_key()
    base = request.config_path.parent
    key_file = base / "agent.key"
    # The new key goes beside the old one until the new config is written: a
    # failed re-onboarding must leave the old key with the old config.
    new_key_file = base / "agent.key.new"
    try:
        write_private(new_key_file, private_key_to_pem(key))
    except ConfigError as exc:
        events.emit(EventId.OnBoardingConfigUpdateError, str(exc), level=Level.ERROR)
        raise OnboardingError(str(exc)) from exc
    events.emit(EventId.KeyPairCreationSuccess, "RSA-2048 key pair created", key_file=str(key_file))
    try:
        config = _register_and_save(request, key, key_file, new_key_file, events)
    finally:
        # Gone once it replaced the old key; on any failure, no stray private key.
        new_key_file.unlink(missing_ok=True)
    events.emit(
        EventId.OnboardingEventSuccess,
        "onboarding finished; writeback ready",
        agent_id=config.agent_id,
        tenant_id=config.tenant_id,
    )
    return config


def _register_and_save(
    request: OnboardRequest,
    key: rsa.RSAPrivateKey,
    key_file: Path,
    new_key_file: Path,
    events: EventLog,
) -> AgentConfig:
    reply = _register(request, public_key_to_pem(key.public_key()), events)
    events.emit(EventId.AuthTokenSuccess, "onboarding token accepted", agent_id=reply["agent_id"])
    try:
        package_key = PackageKey.from_b64(
            reply["package_key"]["key_id"], reply["package_key"]["key"]
        )
        config = AgentConfig(
            path=request.config_path,
            agent_id=reply["agent_id"],
            tenant_id=reply["tenant_id"],
            name=request.name,
            server_url=request.server_url.rstrip("/"),
            relay_path=reply["relay_path"],
            relay_secret=reply["relay_secret"],
            server_ca_file=request.server_ca_file,
            package_keys=(package_key,),
            private_key_file=key_file,
            state_dir=key_file.parent / "state",
            event_log=key_file.parent / "events.jsonl",
            directory=request.directory,
        )
    except (KeyError, TypeError, KeyFormatError) as exc:
        events.emit(EventId.ValidationError, "the server's reply was invalid", level=Level.ERROR)
        raise OnboardingError("the server's onboarding reply was invalid") from exc
    try:
        new_key_file.replace(key_file)
        save(config)
    except (ConfigError, OSError) as exc:
        events.emit(EventId.OnBoardingConfigUpdateError, str(exc), level=Level.ERROR)
        raise OnboardingError(f"the agent's files could not be written: {exc}") from exc
    return config


def _register(request: OnboardRequest, public_key: str, events: EventLog) -> dict[str, Any]:
    verify: ssl.SSLContext | bool = True
    if request.server_ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=str(request.server_ca_file))
        except (OSError, ssl.SSLError) as exc:
            events.emit(EventId.OnBoardingServiceError, f"server CA: {exc}", level=Level.ERROR)
            raise OnboardingError(
                f"cannot use the server's CA file {request.server_ca_file}: {exc}"
            ) from exc
    try:
        response = httpx.post(
            request.server_url.rstrip("/") + ONBOARD_PATH,
            json={"name": request.name, "public_key": public_key, "software": __version__},
            headers={"Authorization": f"Bearer {request.token}"},
            timeout=TIMEOUT,
            verify=verify,
        )
    except httpx.HTTPError as exc:
        events.emit(
            EventId.OnBoardingServiceError,
            f"cannot reach the server: {type(exc).__name__}: {exc}",
            level=Level.ERROR,
        )
        raise OnboardingError(
            f"cannot reach {request.server_url}: {exc}; allow outbound HTTPS to the server"
        ) from exc
    if response.status_code == 401:
        events.emit(EventId.AuthTokenError, "onboarding token refused", level=Level.ERROR)
        raise OnboardingError(
            "the server refused the onboarding token (wrong, already used, or revoked); "
            "ask for a new one with `passback tenant onboarding-token`"
        )
    if response.status_code != 201:
        events.emit(
            EventId.OnBoardingServiceError,
            f"onboarding answered {response.status_code}",
            level=Level.ERROR,
        )
        raise OnboardingError(f"the server answered {response.status_code}: {_message(response)}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        events.emit(EventId.ValidationError, "the server's reply was not JSON", level=Level.ERROR)
        raise OnboardingError("the server's onboarding reply was invalid")
    return body


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase
