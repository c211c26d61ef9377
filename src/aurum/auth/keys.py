"""API keys: ``aurum_<prefix>_<secret>``, made, parsed and checked here and nowhere else.

The prefix names the key (it is what lists, logs and revocations show); the secret is 256 random
bits, kept only as its SHA-256. A fast hash is right here: the secret is random, not a password,
so there is nothing to brute-force with a dictionary, and the check costs microseconds.

>>> token, prefix, digest = new_key()
>>> parse_key(token)[0] == prefix and matches(digest, parse_key(token)[1])
True
>>> parse_key("aurum_nothex!_abc"), key_prefix("Bearer x")
(None, '')
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["key_prefix", "matches", "new_key", "parse_key", "secret_digest"]

_KEY = re.compile(r"^aurum_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")


def new_key() -> tuple[str, str, str]:
    """A fresh key: (token to hand out once, prefix, digest of the secret to keep)."""
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    return f"aurum_{prefix}_{secret}", prefix, secret_digest(secret)


def parse_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key; ``None`` for anything else."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


def key_prefix(token: str) -> str:
    """The prefix of a well-formed key (``""`` otherwise: nothing is looked up)."""
    parsed = parse_key(token)
    return parsed[0] if parsed else ""


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(digest: str, secret: str) -> bool:
    """Whether ``secret`` is the one ``digest`` was made from (in constant time)."""
    return hmac.compare_digest(digest, secret_digest(secret))
