"""Bearer secrets: admin API tokens, one-time onboarding tokens, relay secrets.

Each is 256 random bits with a readable prefix naming its kind; only a SHA-256
hash is stored (SPEC S1). A slow hash would add nothing: the secrets are random
and long, not chosen by people.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
ADMIN_PREFIX = "pba_"
ONBOARDING_PREFIX = "pbo_"
RELAY_PREFIX = "pbr_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(token_hash(token), stored_hash)
