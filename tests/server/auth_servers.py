"""The server with ``--auth`` (in this process), one user per role (each with an API key):
what the tests of authentication and permissions run against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from assay.entities.user import Role
from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore
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
        store.create_user(role.value, role, password=PASSWORD if role is Role.MEMBER
                          else None)
        keys[role.value] = store.create_api_key(role.value, "tests").token
    settings = ServerSettings(port=0, backend_store_uri=store.uri, auth=True)
    with InProcessServer(store, settings) as server:
        yield AuthServer(store, server, keys)
