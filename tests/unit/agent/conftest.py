"""RSA-2048 keys take a while to make: one pair per session."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from passback.crypto.keys import generate_private_key


@pytest.fixture(scope="session")
def agent_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="session")
def other_agent_key() -> rsa.RSAPrivateKey:
    return generate_private_key()
