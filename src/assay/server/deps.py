"""FastAPI dependencies: the store and settings the app was created with, and the caller.

The store is a :class:`~assay.store.capabilities.ServerStore` (``create_app`` checks it):
routes may use what only a server's store does (pending assessments, signing keys,
accounts) as well as every Store method.

The dependencies that only read the app's state or the request are ``async def`` though they
wait for nothing: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-over to
another thread and back for each dependency of each request (about 0.2 ms of a 0.9 ms
request). The same holds for such dependencies elsewhere (``stats.get_counters``,
``api.feedback.get_feedback_limiter``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assay.entities.user import User
from assay.server.settings import ServerSettings
from assay.store.capabilities import Accounts, ServerStore

__all__ = [
    "AccountsDep",
    "CurrentUserDep",
    "SettingsDep",
    "StoreDep",
    "get_accounts",
    "get_current_user",
    "get_settings",
    "get_store",
]


async def get_store(request: Request) -> ServerStore:
    """The store of the app serving the request."""
    store: ServerStore = request.app.state.store
    return store


async def get_settings(request: Request) -> ServerSettings:
    """The settings of the app serving the request."""
    settings: ServerSettings = request.app.state.settings
    return settings


StoreDep = Annotated[ServerStore, Depends(get_store)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]


async def get_current_user(request: Request) -> User | None:
    """Who is calling (set by :class:`~assay.server.auth.AuthMiddleware`); None when auth
    is off."""
    user: User | None = getattr(request.state, "user", None)
    return user


async def get_accounts(request: Request) -> Accounts:
    """The store, as the keeper of users, keys and sessions (checked by ``create_app``)."""
    store: Accounts = request.app.state.store
    return store


CurrentUserDep = Annotated[User | None, Depends(get_current_user)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
