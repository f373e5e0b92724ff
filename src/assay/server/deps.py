"""FastAPI dependencies: the store and settings the app was created with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assay.server.settings import ServerSettings
from assay.store.base import Store

__all__ = ["SettingsDep", "StoreDep", "get_settings", "get_store"]


def get_store(request: Request) -> Store:
    """The store of the app serving the request."""
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> ServerSettings:
    """The settings of the app serving the request."""
    settings: ServerSettings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
