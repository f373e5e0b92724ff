"""Signing keys in the SQL store: one random secret per purpose ("csrf", "feedback", …).

A key is created the first time it is asked for. Every server process over the same database
reads the same row, so tokens one process signs, another accepts; when two processes create
a key at the same moment the unique purpose keeps the first and both read it back.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.errors import InvalidParameterError
from assay.store.sql.dialect import Dialect, insert_ignoring_conflicts
from assay.store.sql.schema import signing_keys

__all__ = ["create_signing_key", "find_signing_key"]

_KEY_BYTES = 32
_PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


def _check_purpose(purpose: str) -> None:
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
        raise InvalidParameterError(
            f"Invalid signing key purpose {purpose!r}: expected 1 to 64 lowercase letters, "
            "digits and . _ - (starting with a letter)")


def find_signing_key(conn: Connection, purpose: str) -> bytes | None:
    """The key for ``purpose``, or None if it has not been created yet."""
    _check_purpose(purpose)
    secret = conn.execute(sa.select(signing_keys.c.secret)
                          .where(signing_keys.c.purpose == purpose)).scalar_one_or_none()
    return None if secret is None else bytes.fromhex(secret)


def create_signing_key(conn: Connection, dialect: Dialect, purpose: str, now_ms: int) -> bytes:
    """The key for ``purpose``, created now unless another process just did."""
    _check_purpose(purpose)
    conn.execute(insert_ignoring_conflicts(dialect, signing_keys), {
        "purpose": purpose, "secret": secrets.token_hex(_KEY_BYTES), "created_time_ms": now_ms})
    key = find_signing_key(conn, purpose)
    assert key is not None  # inserted above, or already there
    return key
