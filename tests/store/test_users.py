"""Users, API keys and login sessions in the SQL store, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from assay.entities.user import Role
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from assay.store.sql.credentials import password_needs_rehash, verify_password
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import api_keys, login_sessions, signing_keys, users

PASSWORD = "correct horse battery staple"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture
def rows(database_uri: str, sql_store: SqlStore) -> Iterator[sa.Engine]:
    """A plain engine on the store's database, to look at the rows themselves."""
    engine, _ = create_engine(database_uri)
    yield engine
    engine.dispose()


def test_create_user_round_trips(sql_store: SqlStore) -> None:
    created = sql_store.create_user("alice@example.com", "admin", password=PASSWORD)
    assert created.username == "alice@example.com"
    assert created.role is Role.ADMIN
    assert created.has_password and not created.disabled
    assert sql_store.get_user("alice@example.com") == created
    assert sql_store.find_user_by_name("nobody") is None
    api_only = sql_store.create_user("ci-bot", Role.MEMBER)
    assert not api_only.has_password
    assert [u.username for u in sql_store.list_users()] == ["alice@example.com", "ci-bot"]


def test_create_user_refuses_a_taken_name_and_bad_input(sql_store: SqlStore) -> None:
    sql_store.create_user("bob", "viewer")
    with pytest.raises(AlreadyExistsError, match="'bob'"):
        sql_store.create_user("bob", "member")
    with pytest.raises(InvalidParameterError, match=r"Invalid role 'owner'.*admin, member"):
        sql_store.create_user("carol", "owner")
    for name in ["", "has space", "a/b", "x" * 200, "'; DROP TABLE users; --"]:
        with pytest.raises(InvalidParameterError, match="Invalid username"):
            sql_store.create_user(name, "member")
    with pytest.raises(InvalidParameterError, match="at least 8 characters") as short:
        sql_store.create_user("dave", "member", password="s3cr3t")
    assert "s3cr3t" not in str(short.value)
    assert [u.username for u in sql_store.list_users()] == ["bob"]


def test_passwords_are_stored_as_scrypt_hashes(sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("alice", "member", password=PASSWORD)
    with rows.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$32768$8$1$")
    assert sql_store.authenticate_password("alice", PASSWORD) is not None
    assert sql_store.authenticate_password("alice", PASSWORD + "!") is None
    assert sql_store.authenticate_password("nobody", PASSWORD) is None


def test_an_old_password_hash_still_verifies_and_is_renewed(
        sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("alice", "member")
    # A hash made with cheaper parameters, as an older version might have stored.
    salt = os.urandom(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    old = f"scrypt$1024$8$1${_b64(salt)}${_b64(digest)}"
    assert verify_password(old, PASSWORD) and password_needs_rehash(old)
    with rows.begin() as conn:
        conn.execute(users.update().values(password_hash=old))
    assert sql_store.authenticate_password("alice", PASSWORD) is not None
    with rows.connect() as conn:
        renewed = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert renewed != old and not password_needs_rehash(renewed)
    assert sql_store.authenticate_password("alice", PASSWORD) is not None


def test_role_password_and_disabling(sql_store: SqlStore) -> None:
    sql_store.create_user("alice", "viewer", password=PASSWORD)
    assert sql_store.set_user_role("alice", "member").role is Role.MEMBER
    sql_store.set_password("alice", "another password")
    assert sql_store.authenticate_password("alice", PASSWORD) is None
    assert sql_store.authenticate_password("alice", "another password") is not None
    assert sql_store.disable_user("alice").disabled
    assert sql_store.authenticate_password("alice", "another password") is None
    assert not sql_store.enable_user("alice").disabled
    with pytest.raises(NotFoundError, match="'ghost'"):
        sql_store.set_user_role("ghost", "admin")
    with pytest.raises(NotFoundError, match="'ghost'"):
        sql_store.disable_user("ghost")


def test_api_keys_are_stored_hashed_and_authenticate(
        sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("ci", "member")
    key_id, token = sql_store.create_api_key("ci", "github actions")
    assert token.startswith(f"assay_{key_id}_")
    secret = token.split("_", 2)[2]
    assert len(secret) >= 43
    with rows.connect() as conn:
        stored = conn.execute(sa.select(api_keys)).one()._mapping
    assert secret not in str(dict(stored)) and token not in str(dict(stored))
    assert stored["key_id"] == key_id
    user = sql_store.authenticate_api_key(token)
    assert user is not None and user.username == "ci"
    [listed] = sql_store.list_api_keys("ci")
    assert (listed.key_id, listed.name, listed.username, listed.revoked) == (
        key_id, "github actions", "ci", False)
    assert listed.last_used_time_ms is not None
    assert "secret" not in repr(listed) and token not in repr(sql_store.list_api_keys())


def test_wrong_malformed_revoked_and_expired_keys_are_refused(
        sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("ci", "member")
    key_id, token = sql_store.create_api_key("ci", "k", expires_in=timedelta(days=1))
    assert sql_store.authenticate_api_key(token) is not None
    prefix, _, secret = token.rpartition("_")
    wrong = prefix + "_" + ("A" if secret[0] != "A" else "B") + secret[1:]
    for bad in [wrong, "", "assay_", token + "x", f"assay_{key_id}", "Bearer " + token]:
        assert sql_store.authenticate_api_key(bad) is None, bad
    with rows.begin() as conn:
        conn.execute(api_keys.update().values(expires_time_ms=1))
    assert sql_store.authenticate_api_key(token) is None
    _, second = sql_store.create_api_key("ci", "second")
    sql_store.revoke_api_key(key_id)
    sql_store.revoke_api_key(key_id)  # again: nothing happens
    assert sql_store.authenticate_api_key(second) is not None
    sql_store.disable_user("ci")
    assert sql_store.authenticate_api_key(second) is None
    with pytest.raises(NotFoundError, match="'0123456789abcdef'"):
        sql_store.revoke_api_key("0123456789abcdef")
    with pytest.raises(NotFoundError, match="'ghost'"):
        sql_store.create_api_key("ghost", "k")
    with pytest.raises(InvalidParameterError, match="expires_in"):
        sql_store.create_api_key("ci", "k", expires_in=timedelta(seconds=-1))
    with pytest.raises(InvalidParameterError, match="key name"):
        sql_store.create_api_key("ci", " ")


def test_last_used_is_written_at_most_once_a_minute(
        sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("ci", "member")
    _, token = sql_store.create_api_key("ci", "k")
    sql_store.authenticate_api_key(token)
    first = sql_store.list_api_keys("ci")[0].last_used_time_ms
    assert first is not None
    sql_store.authenticate_api_key(token)
    assert sql_store.list_api_keys("ci")[0].last_used_time_ms == first
    with rows.begin() as conn:  # a minute ago
        conn.execute(api_keys.update().values(last_used_time_ms=first - 60_000))
    sql_store.authenticate_api_key(token)
    assert sql_store.list_api_keys("ci")[0].last_used_time_ms >= first  # type: ignore[operator]


def test_login_sessions_are_hashed_expire_and_sign_out(
        sql_store: SqlStore, rows: sa.Engine) -> None:
    sql_store.create_user("alice", "member", password=PASSWORD)
    cookie = sql_store.create_login_session("alice")
    with rows.connect() as conn:
        stored = conn.execute(sa.select(login_sessions.c.session_hash)).scalar_one()
    assert cookie not in stored
    user = sql_store.find_login_session(cookie)
    assert user is not None and user.username == "alice"
    assert sql_store.find_login_session(cookie + "x") is None
    sql_store.delete_login_session(cookie)
    assert sql_store.find_login_session(cookie) is None

    expired = sql_store.create_login_session("alice", lifetime=timedelta(days=1))
    with rows.begin() as conn:
        conn.execute(login_sessions.update().values(expires_time_ms=1))
    assert sql_store.find_login_session(expired) is None
    sql_store.create_login_session("alice")  # purges the expired one on the way
    with rows.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(login_sessions)
                            ).scalar_one() == 1


def test_a_new_password_or_disabling_signs_out_everywhere(sql_store: SqlStore) -> None:
    sql_store.create_user("alice", "member", password=PASSWORD)
    first = sql_store.create_login_session("alice")
    sql_store.set_password("alice", "another password")
    assert sql_store.find_login_session(first) is None
    second = sql_store.create_login_session("alice")
    sql_store.disable_user("alice")
    assert sql_store.find_login_session(second) is None


def test_signing_keys_are_created_once_and_shared(database_uri: str, sql_store: SqlStore,
                                                  rows: sa.Engine) -> None:
    key = sql_store.signing_key("csrf")
    assert len(key) == 32
    other = SqlStore(database_uri)  # another process over the same database
    try:
        assert other.signing_key("csrf") == key
        assert other.signing_key("feedback_token") != key
    finally:
        other.close()
    with rows.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(signing_keys)
                            ).scalar_one() == 2
