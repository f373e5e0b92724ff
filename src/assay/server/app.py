"""The app factory: ``create_app(settings, store)`` builds the FastAPI app, with no globals.

Everything the routes need hangs off ``app.state`` (``store``, ``settings``) and reaches them
through :mod:`assay.server.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from assay.errors import AssayError, StoreUnavailableError
from assay.server.access_log import AccessLogMiddleware
from assay.server.api import build_router, otlp
from assay.server.deps import StoreDep
from assay.server.errors import ErrorResponse, install_error_handlers
from assay.server.settings import ServerSettings
from assay.store.base import Store
from assay.store.uri import open_store
from assay.version import __version__

__all__ = ["create_app", "create_app_from_env"]


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when the store answers")


def create_app(settings: ServerSettings, store: Store, *, owns_store: bool = False) -> FastAPI:
    """The Assay server app over ``store``.

    Args:
        settings: how the server runs.
        store: where the data is; the caller closes it, unless ``owns_store`` is True, in
            which case the app closes it when it shuts down.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_store:
                store.close()

    app = FastAPI(
        title="Assay",
        version=__version__,
        description="Assay's tracking server: traces, assessments, sessions and feedback "
                    "analytics over JSON. Errors are `{error_code, message}`.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    app.include_router(build_router())
    app.include_router(otlp.router)  # POST /v1/traces, OTLP's fixed path

    @app.get("/health", response_model=HealthResponse, tags=["server"],
             responses={503: {"model": ErrorResponse,
                              "description": "The store does not answer"}})
    def health(store: StoreDep) -> HealthResponse:
        """200 when the store answers a trivial read, 503 otherwise."""
        try:
            store.search_experiments(max_results=1)
        except StoreUnavailableError:
            raise
        except AssayError as exc:  # a closed store is as unavailable as a stopped database
            raise StoreUnavailableError(f"The store does not answer: {exc.message}") from exc
        return HealthResponse(status="ok")

    @app.get("/version", response_class=PlainTextResponse, tags=["server"],
             responses={200: {"content": {"text/plain": {"example": __version__}}}})
    def version() -> str:
        """Assay's version as plain text (as MLflow's server answers)."""
        return __version__

    return app


def create_app_from_env() -> FastAPI:
    """The app for one uvicorn worker process: settings from ``ASSAY_SERVER_*``, its own store.

    ``assay server --workers N`` sets those variables and points uvicorn at this factory.
    """
    settings = ServerSettings.from_env()
    return create_app(settings, open_store(settings.backend_store_uri), owns_store=True)
