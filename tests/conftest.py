"""Fixtures shared by integration and end-to-end tests: a real Samba AD DC on loopback."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # ldap3 2.9.1 imports pyasn1 names that pyasn1 0.6 deprecates (tagMap, typeMap);
    # pyproject's filterwarnings = error would fail the import. Better placed as a
    # filterwarnings "ignore" entry in pyproject.toml.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3  # noqa: F401

from tests.support.samba import SambaDC, SambaError, check_prerequisites


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    """One Samba AD DC for the whole session (provisioned, started, set up; see
    tests/support/samba.py for what it holds)."""
    # A missing prerequisite ends the run with one message, not one error per test
    # (and never a skip: a green run without the DC would prove nothing).
    if os.geteuid() != 0:
        pytest.exit("a Samba AD DC needs root (it binds ports 389/636)", returncode=4)
    try:
        check_prerequisites()
    except SambaError as exc:
        pytest.exit(str(exc), returncode=4)
    dc = SambaDC()
    dc.start()  # a failure here is an error, not a skip
    try:
        yield dc
    finally:
        dc.stop()
