"""The DC's prerequisites are checked before anything starts (set-up issue): a
machine without a provisioning package is told which, and how to install it."""

from __future__ import annotations

from pathlib import Path

import pytest

from passback.demo import run, samba

NOT_A_PACKAGE = "passback-no-such-package"


def test_setup_names_every_package_the_dc_needs() -> None:
    words = (Path(__file__).parents[3] / "scripts" / "setup").read_text().split()
    for package in samba.DEBIAN_PACKAGES:
        assert package in words


def test_missing_packages_asks_dpkg() -> None:
    assert samba.missing_packages(("dpkg", NOT_A_PACKAGE)) == [NOT_A_PACKAGE]


def test_check_prerequisites_names_the_package_and_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(samba, "DEBIAN_PACKAGES", ("dpkg", NOT_A_PACKAGE))
    with pytest.raises(samba.SambaError) as caught:
        samba.check_prerequisites()
    message = str(caught.value)
    assert f"missing {NOT_A_PACKAGE};" in message
    assert f"apt-get install --no-install-recommends {NOT_A_PACKAGE}" in message
    assert "scripts/setup" in message


def test_dc_start_checks_before_provisioning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(samba, "DEBIAN_PACKAGES", (NOT_A_PACKAGE,))
    dc = samba.SambaDC(
        tmp_path / "dc",
        realm="EXAMPLE.TEST",
        netbios_domain="EXAMPLE",
        host_name="DC1",
        address="127.0.0.9",
        managed_ou="OU=Users",
        admin_password="x",
        service_password="y",
    )
    with pytest.raises(samba.SambaError, match=NOT_A_PACKAGE):
        dc.start()
    assert not (tmp_path / "dc").exists()


def test_demo_refuses_before_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samba, "DEBIAN_PACKAGES", (NOT_A_PACKAGE,))
    monkeypatch.setattr(run.os, "geteuid", lambda: 0)
    with pytest.raises(run.DemoError, match=f"missing {NOT_A_PACKAGE}"):
        run.check_prerequisites()
