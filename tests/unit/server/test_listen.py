"""The access log never holds a secret part of a path (S7)."""

from __future__ import annotations

import logging

import pytest

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
