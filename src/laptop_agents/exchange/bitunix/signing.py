"""The Bitunix signature (§4.2): two rounds of plain SHA-256, lower-case hex.

digest = sha256(nonce + timestamp + api_key + sorted query as key+value + exact body text)
sign   = sha256(digest + secret)

The body is signed as the exact text sent; the server verifies the raw bytes it received, so a client
must sign and send the very same bytes (we serialise once and send those bytes).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping


def query_string_for_signing(params: Mapping[str, object]) -> str:
    """Sorted by key (ASCII), `key + value` with no separators; empty values and `sign` are skipped."""
    return "".join(f"{k}{v}" for k, v in sorted(params.items()) if v is not None and v != "" and k != "sign")


def sign(*, api_key: str, secret: str, nonce: str, timestamp: str, query: str = "", body: str = "") -> str:
    digest = hashlib.sha256(f"{nonce}{timestamp}{api_key}{query}{body}".encode()).hexdigest()
    return hashlib.sha256(f"{digest}{secret}".encode()).hexdigest()


def sign_ws_login(*, api_key: str, secret: str, nonce: str, timestamp: int) -> str:
    """Private WebSocket login (§5.7): the REST scheme with empty query and body, timestamp in seconds."""
    return sign(api_key=api_key, secret=secret, nonce=nonce, timestamp=str(timestamp))


def new_nonce() -> str:
    """32 random hex characters, the form working clients send."""
    return secrets.token_hex(16)
