"""The server with ``--auth`` (in this process), one user per role (each with an API key):
what the tests of authentication and permissions run against."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from assay.entities.user import Role
from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore, credentials
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import users
from server.live import InProcessServer

#: The password of the member (the one user who can sign in to the pages).
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class AuthServer:
    """A server with auth on, one user per role (each with an API key), and the store."""

    store: SqlStore
    server: InProcessServer
    keys: dict[str, str]

    def client(self, role: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Client:
        """A client of the server with cookies of its own; with ``role``, one sending that
        user's key."""
        headers = dict(headers or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.keys[role]}"
        return self.server.client(headers)


@contextmanager
def serve_with_auth(store: SqlStore) -> Iterator[AuthServer]:
    """Users named after the roles (the member with :data:`PASSWORD`), a key each, and a
    server with auth on over ``store`` until the block ends."""
    keys = {}
    for role in Role:
        store.create_user(role.value, role)
        keys[role.value] = store.create_api_key(role.value, "tests").token
    _give_password(store.uri, Role.MEMBER.value)
    settings = ServerSettings(port=0, backend_store_uri=store.uri, auth=True)
    with InProcessServer(store, settings) as server:
        yield AuthServer(store, server, keys)


@functools.cache
def _password_hash() -> str:
    """:data:`PASSWORD` as the store keeps it, hashed once per test process: hashing takes
    0.1 s of CPU on purpose, and most tests of auth start a server with this member."""
    return credentials.hash_password(PASSWORD)


def _give_password(uri: str, username: str) -> None:
    """Give ``username`` :data:`PASSWORD`, as ``create_user(password=...)`` would have
    (the same hash, made once; tests/store/test_users.py tests the store's own hashing)."""
    engine, _ = create_engine(uri)
    try:
        with engine.begin() as conn:
            conn.execute(users.update().where(users.c.username == username)
                         .values(password_hash=_password_hash()))
    finally:
        engine.dispose()
