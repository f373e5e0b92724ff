"""The Assay tracking server: a FastAPI app over one :class:`~assay.store.Store`.

``create_app(settings, store)`` builds the app; ``assay server`` runs it under uvicorn.
Importing this package imports FastAPI, so the SDK (``import assay``) never does.
"""

from __future__ import annotations

from assay.server.app import create_app
from assay.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
