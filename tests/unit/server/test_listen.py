"""The access log never holds a secret part of a path (S7); the server
makes room for its connections among its open files."""

from __future__ import annotations

import logging
import resource

import pytest

from passback.server import listen
from passback.server.listen import SecretPaths


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/console/acme/setup/Zm9vYmFy-_x", "/console/acme/setup/…"),
        ("/console/acme/setup/Zm9v?lang=pt-BR", "/console/acme/setup/…?lang=pt-BR"),
        ("/portal/acme/code/abc123", "/portal/acme/code/…"),
        ("/portal/acme/code/again", "/portal/acme/code/again"),
        ("/console/acme/people", "/console/acme/people"),
    ],
)
def test_secret_parts_of_paths_are_blanked(path: str, logged: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    assert SecretPaths().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "GET {logged} HTTP/1.1" 200'


class Limits:
    """A stand-in for ``resource``'s open-file limits."""

    def __init__(self, soft: int, hard: int) -> None:
        self.soft, self.hard = soft, hard

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, values: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE and values[1] == self.hard
        self.soft = values[0]


@pytest.mark.parametrize(
    ("soft", "hard", "raised"),
    [
        (1024, 524288, 524288),  # systemd's defaults: raised to the hard limit
        (1024, resource.RLIM_INFINITY, listen.OPEN_FILES_CEILING),
        (65536, 4096, 65536),  # never lowered
    ],
)
def test_the_open_file_limit_is_raised_to_the_hard_one(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    soft: int,
    hard: int,
    raised: int,
) -> None:
    limits = Limits(soft, hard)
    monkeypatch.setattr(resource, "getrlimit", limits.get)
    monkeypatch.setattr(resource, "setrlimit", limits.set)
    assert listen.open_file_room(listen.ConnectionLimits()) == raised == limits.soft
    assert not caplog.records


def test_a_low_hard_limit_is_warned_of(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = Limits(1024, 1024)
    monkeypatch.setattr(resource, "getrlimit", limits.get)
    monkeypatch.setattr(resource, "setrlimit", limits.set)
    assert listen.open_file_room(listen.ConnectionLimits(max_connections=1000)) == 1024
    [warning] = caplog.records
    assert "open files are limited to 1024" in warning.getMessage()
