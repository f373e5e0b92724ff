"""Users, API keys and login sessions in the SQL store (the tables of migration 0004).

Functions take an open Connection; the caller owns the transaction. Secrets never reach the
database: passwords are stored as scrypt hashes, API keys and session cookies as SHA-256 (see
:mod:`assay.store.sql.credentials`); the plaintext of a key or a session leaves this module
once, in the return value of the function that made it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay.entities._checks import check_key
from assay.entities.user import ApiKey, NewApiKey, Role, User
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.sql import credentials
from assay.store.sql.schema import api_keys, login_sessions, users

__all__ = [
    "LAST_USED_RESOLUTION_MS",
    "LOGIN_SESSION_LIFETIME",
    "MAX_KEY_NAME_CHARS",
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "RESERVED_USERNAMES",
    "FoundApiKey",
    "check_password",
    "check_username",
    "create_api_key",
    "create_login_session",
    "create_user",
    "delete_login_session",
    "delete_user_sessions",
    "find_api_key_user",
    "find_login_session",
    "find_password_hash",
    "find_user_by_name",
    "get_user",
    "list_api_keys",
    "list_users",
    "parse_role",
    "purge_expired_login_sessions",
    "revoke_api_key",
    "set_password_hash",
    "set_user_disabled",
    "set_user_role",
    "touch_api_key",
]

MIN_PASSWORD_CHARS = 8
#: How long a sign-in to the web pages lasts.
LOGIN_SESSION_LIFETIME = timedelta(days=7)
MAX_PASSWORD_CHARS = 1024
MAX_KEY_NAME_CHARS = 250
#: ``last_used_time_ms`` of a key is written at most this often.
LAST_USED_RESOLUTION_MS = 60_000
# Usernames appear in URLs (/api/v1/users/{username}/keys) and listings: no spaces, slashes
# or control characters. An email address is a valid username.
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
#: Names no new user may take (in any letter case): the fixed words of the server's paths
#: under ``/api/v1/users/``, where a username also goes (``GET /api/v1/users/me`` is the
#: caller, not a user named "me").
RESERVED_USERNAMES = frozenset({"me"})


def parse_role(role: Role | str) -> Role:
    """The :class:`Role` a value names; InvalidParameterError listing the roles otherwise."""
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidParameterError(f"Invalid role {role!r}: expected one of {choices}") from None


def check_username(username: object) -> str:
    """The username if a new user may take it; InvalidParameterError saying why not
    otherwise (not a string, a character outside the allowed ones, or one of
    :data:`RESERVED_USERNAMES`)."""
    if not isinstance(username, str):
        raise InvalidParameterError(
            f"Invalid username {username!r}: expected a string, got {type(username).__name__}")
    if not _USERNAME.fullmatch(username):
        raise InvalidParameterError(
            f"Invalid username {username[:140]!r}: use 1 to 128 letters, digits and . _ @ + - "
            "(starting with a letter or digit)")
    if username.lower() in RESERVED_USERNAMES:
        raise InvalidParameterError(
            f"Invalid username {username!r}: it is reserved for the server's own path "
            f"/api/v1/users/{username.lower()}")
    return username


def check_password(password: object) -> str:
    """The password if it is acceptable; InvalidParameterError saying why not (never
    repeating the password) otherwise."""
    if not isinstance(password, str):
        raise InvalidParameterError(
            f"Invalid password: expected a string, got {type(password).__name__}")
    if len(password) < MIN_PASSWORD_CHARS or not password.strip():
        raise InvalidParameterError(
            f"Invalid password: it must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidParameterError(
            f"Invalid password: it must have at most {MAX_PASSWORD_CHARS} characters")
    return password


# -- users ------------------------------------------------------------------------------------

def create_user(conn: Connection, username: str, role: Role | str, password_hash: str | None,
                now_ms: int) -> User:
    """Create a user; AlreadyExistsError if the name is taken.

    The caller hashes the password (:func:`~assay.store.sql.credentials.hash_password`),
    outside the transaction, since hashing is slow on purpose.
    """
    check_username(username)
    role = parse_role(role)
    if find_user_by_name(conn, username) is not None:
        raise _user_exists(username)
    try:
        conn.execute(users.insert(), {
            "username": username, "role": role.value, "password_hash": password_hash,
            "created_time_ms": now_ms, "disabled": False})
    except sa.exc.IntegrityError as exc:  # created by someone else since the check above
        raise _user_exists(username) from exc
    return get_user(conn, username)


def get_user(conn: Connection, username: str) -> User:
    """The user with this name; NotFoundError naming it otherwise."""
    user = find_user_by_name(conn, username)
    if user is None:
        raise NotFoundError(f"User {username!r} not found")
    return user


def find_user_by_name(conn: Connection, username: str) -> User | None:
    """The user with exactly this name, or None."""
    if not isinstance(username, str) or "\x00" in username:
        return None  # no user has such a name (and PostgreSQL cannot compare a NUL)
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    return None if row is None else _to_user(row._mapping)


def list_users(conn: Connection) -> list[User]:
    """Every user, by name."""
    return [_to_user(row._mapping)
            for row in conn.execute(sa.select(users).order_by(users.c.username))]


def set_user_role(conn: Connection, username: str, role: Role | str) -> User:
    """Give a user another role; NotFoundError if there is no such user."""
    role = parse_role(role)
    _update_user(conn, username, role=role.value)
    return get_user(conn, username)


def set_user_disabled(conn: Connection, username: str, disabled: bool) -> User:
    """Disable (or enable again) a user. Disabling signs them out everywhere; their keys are
    refused while they are disabled."""
    _update_user(conn, username, disabled=disabled)
    if disabled:
        delete_user_sessions(conn, username)
    return get_user(conn, username)


def set_password_hash(conn: Connection, username: str, password_hash: str | None) -> None:
    """Replace a user's password hash (None: no password, API keys only)."""
    _update_user(conn, username, password_hash=password_hash)


def find_password_hash(conn: Connection, username: str) -> tuple[User, str | None] | None:
    """The user and their stored password hash, or None if there is no such user."""
    if not isinstance(username, str) or "\x00" in username:
        return None  # no user has such a name (and PostgreSQL cannot compare a NUL)
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        return None
    return _to_user(row._mapping), row._mapping["password_hash"]


def _update_user(conn: Connection, username: str, **values: Any) -> None:
    check_key("username", username)
    result = conn.execute(users.update().where(users.c.username == username).values(**values))
    if result.rowcount == 0:
        raise NotFoundError(f"User {username!r} not found")


def _user_id(conn: Connection, username: str) -> int:
    check_key("username", username)
    user_id = conn.execute(
        sa.select(users.c.id).where(users.c.username == username)).scalar_one_or_none()
    if user_id is None:
        raise NotFoundError(f"User {username!r} not found")
    return int(user_id)


def _to_user(row: RowMapping) -> User:
    return User(username=row["username"], role=Role(row["role"]),
                created_time_ms=row["created_time_ms"], disabled=bool(row["disabled"]),
                has_password=row["password_hash"] is not None)


def _user_exists(username: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"User {username!r} already exists")


# -- API keys ---------------------------------------------------------------------------------

def create_api_key(conn: Connection, username: str, name: str,
                   expires_in: timedelta | None, now_ms: int) -> NewApiKey:
    """Create a key for a user; the returned token is the only copy of its secret."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError("Invalid key name: it must be a non-empty string")
    if len(name) > MAX_KEY_NAME_CHARS:
        raise InvalidParameterError(
            f"Invalid key name: it is {len(name)} characters long; the limit is "
            f"{MAX_KEY_NAME_CHARS}")
    check_key("key name", name)
    expires_ms: int | None = None
    if expires_in is not None:
        if not isinstance(expires_in, timedelta) or expires_in <= timedelta(0):
            raise InvalidParameterError(
                f"Invalid expires_in {expires_in!r}: expected a positive timedelta or None")
        expires_ms = now_ms + int(expires_in.total_seconds() * 1000)
    user_id = _user_id(conn, username)
    key_id, secret, token = credentials.new_api_key()
    conn.execute(api_keys.insert(), {
        "key_id": key_id, "key_hash": credentials.hash_token(secret), "user_id": user_id,
        "name": name, "created_time_ms": now_ms, "last_used_time_ms": None,
        "expires_time_ms": expires_ms, "revoked": False})
    return NewApiKey(key_id=key_id, token=token)


def list_api_keys(conn: Connection, username: str | None = None) -> list[ApiKey]:
    """The keys of one user (NotFoundError if there is no such user), or of everyone,
    oldest first."""
    query = (sa.select(api_keys, users.c.username)
             .join(users, users.c.id == api_keys.c.user_id)
             .order_by(api_keys.c.created_time_ms, api_keys.c.id))
    if username is not None:
        query = query.where(api_keys.c.user_id == _user_id(conn, username))
    return [_to_api_key(row._mapping) for row in conn.execute(query)]


def revoke_api_key(conn: Connection, key_id: str) -> None:
    """Revoke a key for good (revoking it again does nothing); NotFoundError if there is no
    key with this id."""
    result = conn.execute(
        api_keys.update().where(api_keys.c.key_id == key_id).values(revoked=True))
    if result.rowcount == 0:
        raise NotFoundError(f"API key {key_id!r} not found")


class FoundApiKey(NamedTuple):
    """A key that authenticates its user (:func:`find_api_key_user`)."""

    user: User
    key_id: str
    #: When it last authenticated a request (ms since the epoch), None if never.
    last_used_time_ms: int | None
    #: When it stops working (ms since the epoch), None for never.
    expires_time_ms: int | None


def find_api_key_user(conn: Connection, token: str, now_ms: int) -> FoundApiKey | None:
    """The user a key authenticates, with the key's id, when it was last used and when it
    expires; None for a malformed, unknown, revoked or expired key, or a disabled user."""
    parsed = credentials.parse_api_key(token) if isinstance(token, str) else None
    if parsed is None:
        return None
    key_id, secret = parsed
    row = conn.execute(
        sa.select(api_keys.c.key_hash, api_keys.c.revoked, api_keys.c.expires_time_ms,
                  api_keys.c.last_used_time_ms, users)
        .join(users, users.c.id == api_keys.c.user_id)
        .where(api_keys.c.key_id == key_id)).first()
    if row is None:
        return None
    key = row._mapping
    if not credentials.tokens_match(key["key_hash"], credentials.hash_token(secret)):
        return None
    if key["revoked"] or key["disabled"]:
        return None
    if key["expires_time_ms"] is not None and now_ms >= key["expires_time_ms"]:
        return None
    return FoundApiKey(_to_user(key), key_id, key["last_used_time_ms"],
                       key["expires_time_ms"])


def touch_api_key(conn: Connection, key_id: str, now_ms: int) -> None:
    """Record that a key was used now, unless that was recorded less than
    :data:`LAST_USED_RESOLUTION_MS` ago."""
    conn.execute(
        api_keys.update()
        .where(api_keys.c.key_id == key_id,
               sa.or_(api_keys.c.last_used_time_ms.is_(None),
                      api_keys.c.last_used_time_ms <= now_ms - LAST_USED_RESOLUTION_MS))
        .values(last_used_time_ms=now_ms))


def _to_api_key(row: RowMapping) -> ApiKey:
    return ApiKey(key_id=row["key_id"], username=row["username"], name=row["name"],
                  created_time_ms=row["created_time_ms"],
                  last_used_time_ms=row["last_used_time_ms"],
                  expires_time_ms=row["expires_time_ms"], revoked=bool(row["revoked"]))


# -- login sessions ---------------------------------------------------------------------------

def create_login_session(conn: Connection, username: str, lifetime: timedelta,
                         now_ms: int) -> str:
    """Sign a user in: the new session's cookie value (stored only as its hash). Expired
    sessions of everyone are purged on the way."""
    user_id = _user_id(conn, username)
    purge_expired_login_sessions(conn, now_ms)
    token = credentials.new_session_token()
    conn.execute(login_sessions.insert(), {
        "session_hash": credentials.hash_token(token), "user_id": user_id,
        "created_time_ms": now_ms,
        "expires_time_ms": now_ms + int(lifetime.total_seconds() * 1000)})
    return token


def find_login_session(conn: Connection, token: str, now_ms: int) -> User | None:
    """The user a session cookie signs in; None if it is unknown or expired, or the user
    is disabled."""
    if not isinstance(token, str) or not token:
        return None
    row = conn.execute(
        sa.select(users)
        .join(login_sessions, login_sessions.c.user_id == users.c.id)
        .where(login_sessions.c.session_hash == credentials.hash_token(token),
               login_sessions.c.expires_time_ms > now_ms)).first()
    if row is None or row._mapping["disabled"]:
        return None
    return _to_user(row._mapping)


def delete_login_session(conn: Connection, token: str) -> None:
    """Sign a session out (nothing happens for an unknown one)."""
    conn.execute(login_sessions.delete().where(
        login_sessions.c.session_hash == credentials.hash_token(token)))


def delete_user_sessions(conn: Connection, username: str) -> None:
    """Sign a user out everywhere."""
    conn.execute(login_sessions.delete().where(
        login_sessions.c.user_id == _user_id(conn, username)))


def purge_expired_login_sessions(conn: Connection, now_ms: int) -> int:
    """Delete the sessions that have expired; how many there were."""
    result = conn.execute(
        login_sessions.delete().where(login_sessions.c.expires_time_ms <= now_ms))
    return int(result.rowcount)
