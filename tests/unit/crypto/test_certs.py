"""passback.crypto.certs: a private CA and server certificate (S4)."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from passback.crypto.certs import create


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return create(tmp_path_factory.mktemp("tls") / "certs", ["localhost", "127.0.0.1"])


def handshake(files, server_hostname: str) -> str:  # type: ignore[no-untyped-def]
    """A TLS handshake in memory: the client trusts only ca.pem."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.cert, files.key)
    client_ctx = ssl.create_default_context(cafile=str(files.ca))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values())
    version = client.version()
    assert version is not None
    return version


def test_files_exist(files) -> None:  # type: ignore[no-untyped-def]
    for path in (files.ca, files.cert, files.key):
        assert path.is_file() and path.stat().st_size > 0
    assert files.ca.name == "ca.pem"
    assert files.cert.name == "server.pem"
    assert files.key.name == "server.key"


def test_key_mode_is_0600(files) -> None:  # type: ignore[no-untyped-def]
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600


def test_key_mode_is_0600_over_an_old_key(tmp_path: Path) -> None:
    key = tmp_path / "server.key"
    key.write_text("old")
    key.chmod(0o644)
    create(tmp_path, ["localhost"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_certificate_names(files) -> None:  # type: ignore[no-untyped-def]
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert cert.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_handshake_verifies(files, host: str) -> None:  # type: ignore[no-untyped-def]
    assert handshake(files, host).startswith("TLSv1.")


def test_tls_handshake_refuses_another_name(files) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files, "example.test")


def test_tls_handshake_refuses_another_ca(files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = create(tmp_path, ["localhost"])
    mixed = type(files)(other.ca, files.cert, files.key)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(mixed, "localhost")


def test_needs_a_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host"):
        create(tmp_path, [])
    assert not any(tmp_path.iterdir())
