"""Credentials: how passwords, API keys and login-session tokens are made, hashed and checked.

* Passwords are hashed with scrypt (a slow, memory-hard KDF from the standard library) and a
  random salt per password. The stored string carries its parameters,
  ``scrypt$<n>$<r>$<p>$<salt>$<hash>``, so they can be raised later: old hashes still verify,
  and :func:`password_needs_rehash` says when to re-hash one at the next sign-in.
* API keys read ``assay_<key_id>_<secret>``: ``key_id`` (16 hex digits) is public and names
  the key; the secret (256 random bits) is kept only as its SHA-256. A high-entropy secret
  needs no slow KDF: SHA-256 cannot be reversed, and nobody can guess 256 bits.
* Login sessions are 256 random bits in a cookie, kept as their SHA-256.

Every comparison of secrets is constant-time. Nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = [
    "API_KEY_PREFIX",
    "hash_password",
    "hash_token",
    "new_api_key",
    "new_session_token",
    "parse_api_key",
    "password_needs_rehash",
    "tokens_match",
    "verify_password",
]

#: What every API key starts with, so that a leaked key is recognizable (secret scanners).
API_KEY_PREFIX = "assay"

# scrypt's cost: N=2^15, r=8 uses 32 MiB and about 0.1 s per hash on one core.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SALT_BYTES = 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_KEY_ID_BYTES = 8
_SECRET_BYTES = 32
_API_KEY = re.compile(rf"{API_KEY_PREFIX}_([0-9a-f]{{{2 * _KEY_ID_BYTES}}})_([A-Za-z0-9_-]{{43}})")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=_MAX_SCRYPT_MEMORY, dklen=_SCRYPT_DKLEN)


def hash_password(password: str) -> str:
    """The string to store for ``password``: scrypt with a fresh salt, parameters included."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse_password_hash(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        return n, r, p, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash.

    With no stored hash (an unknown user, a user without a password) the same work is done
    against a throwaway hash, so the time taken does not tell which usernames exist.
    """
    parsed = _parse_password_hash(stored) if stored else None
    if parsed is None:
        _scrypt(password, b"\0" * _SALT_BYTES, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _scrypt(password, salt, n, r, p)
    except ValueError:  # parameters scrypt refuses: the hash was not made here
        return False
    return hmac.compare_digest(actual, expected)


def password_needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than :func:`hash_password` uses."""
    parsed = _parse_password_hash(stored)
    return parsed is None or parsed[:3] != (_SCRYPT_N, _SCRYPT_R, _SCRYPT_P)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of a high-entropy secret: what is stored for keys and sessions."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(a: str, b: str) -> bool:
    """Constant-time equality of two secrets (or their hashes)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def new_api_key() -> tuple[str, str, str]:
    """A new key: ``(key_id, secret, token)``, where ``token`` is what the user is given."""
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = _b64(secrets.token_bytes(_SECRET_BYTES))
    return key_id, secret, f"{API_KEY_PREFIX}_{key_id}_{secret}"


def parse_api_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key; None for anything else."""
    match = _API_KEY.fullmatch(token)
    return None if match is None else (match.group(1), match.group(2))


def new_session_token() -> str:
    """A new login session's cookie value."""
    return _b64(secrets.token_bytes(_SECRET_BYTES))
