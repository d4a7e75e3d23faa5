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
    """A stand-in for ``resource``'s open-file limits; ``ceiling``: what the
    kernel lets a process have (``fs.nr_open``)."""

    def __init__(self, soft: int, hard: int, ceiling: int = 1 << 30) -> None:
        self.soft, self.hard, self.ceiling = soft, hard, ceiling

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, values: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE and values[1] == self.hard
        if values[0] > self.ceiling:
            raise ValueError("not allowed to raise maximum limit")
        self.soft = values[0]


@pytest.mark.parametrize(
    ("soft", "hard", "raised"),
    [
        (1024, 524288, 524288),  # systemd's defaults: raised to the hard limit
        (1024, resource.RLIM_INFINITY, listen.OPEN_FILES_CEILING),
        (65536, 4096, 65536),  # never lowered
        (resource.RLIM_INFINITY, resource.RLIM_INFINITY, resource.RLIM_INFINITY),
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


def test_a_limit_the_kernel_refuses_is_warned_of_and_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    limits = Limits(1024, resource.RLIM_INFINITY, ceiling=65536)
    monkeypatch.setattr(resource, "getrlimit", limits.get)
    monkeypatch.setattr(resource, "setrlimit", limits.set)
    assert listen.open_file_room(listen.ConnectionLimits(max_connections=100)) == 1024
    [warning] = caplog.records
    assert "could not raise the limit of open files" in warning.getMessage()
