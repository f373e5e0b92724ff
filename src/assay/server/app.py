"""The app factory: ``create_app(settings, store)`` builds the FastAPI app, with no globals.

Everything the routes need hangs off ``app.state`` (``store``, ``settings``) and reaches them
through :mod:`assay.server.deps`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute, Mount, Route

from assay.errors import AssayError, StoreUnavailableError
from assay.server import login
from assay.server.access_log import AccessLogMiddleware
from assay.server.api import build_router, otlp
from assay.server.api.feedback import FEEDBACK_PATH
from assay.server.auth import install_auth, verify_route_action
from assay.server.cors import CorsMiddleware
from assay.server.deps import StoreDep
from assay.server.errors import ErrorResponse, install_error_handlers
from assay.server.hosts import HostCheckMiddleware, allowed_host_names
from assay.server.limits import RequestLimitsMiddleware
from assay.server.mlflow_compat import build_router as build_mlflow_router
from assay.server.mlflow_compat import version_for
from assay.server.pending_sweep import pending_sweeps
from assay.server.permissions import Action, declare, needs
from assay.server.query_cancel import QueryBoundsMiddleware
from assay.server.rate_limit import TokenBucketLimiter
from assay.server.review.pages import build_review_router
from assay.server.route_tables import RouteTable, flatten
from assay.server.settings import ServerSettings
from assay.server.stats import ServerCounters
from assay.server.ui import build_ui_router
from assay.server.ui.error_pages import error_page
from assay.server.ui.templating import STATIC_DIR
from assay.store import Store, open_store, server_store
from assay.version import __version__

__all__ = ["create_app", "create_app_from_env"]


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when the store answers")


def create_app(settings: ServerSettings, store: Store, *, owns_store: bool = False) -> FastAPI:
    """The Assay server app over ``store``.

    Args:
        settings: how the server runs.
        store: where the data is: a :class:`~assay.store.capabilities.ServerStore` (a SQL
            store), which keeps pending assessments, signing keys and accounts. The caller
            closes it, unless ``owns_store`` is True, in which case the app closes it when it
            shuts down.

    Raises:
        InvalidParameterError: the store is not one a server can run on (a REST store).
    """
    served = server_store(store)
    counters = ServerCounters()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            # Feedback whose trace never came is dropped at start, then every minute.
            async with pending_sweeps(served, counters):
                yield
        finally:
            if owns_store:
                served.close()

    app = FastAPI(
        title="Assay",
        version=__version__,
        description="Assay's tracking server: traces, assessments, sessions and feedback "
                    "analytics over JSON. Errors are `{error_code, message}`.",
        lifespan=lifespan,
        # /docs is Assay's own page (assay.server.ui.api_docs): FastAPI's viewers load their
        # scripts from a CDN, which an offline or locked-down server cannot reach.
        docs_url=None,
        redoc_url=None,
        # The route that answers must be the one the auth middleware checked: for a route
        # added to this app later (Assay's own routes carry the check from _routes).
        dependencies=[Depends(verify_route_action)],
    )
    # FastAPI's own route, the only one so far: the OpenAPI document (/openapi.json).
    for route in app.routes:
        if isinstance(route, Route):
            declare(route, Action.READ)
    app.state.store = served
    app.state.settings = settings
    app.state.counters = counters
    app.state.feedback_limiter = TokenBucketLimiter(settings.feedback_rate_limit_per_minute)
    install_error_handlers(app, page=error_page)
    # Who is calling, may they, and CSRF (see assay.server.auth): innermost, so that the
    # access log records its refusals and the body limits apply to the forms it reads.
    install_auth(app, settings, served, page=error_page)
    # Body size and Content-Encoding for every route; inside the access log, which logs its
    # refusals too.
    app.add_middleware(RequestLimitsMiddleware, max_request_bytes=settings.max_request_bytes)
    # CORS for the browser feedback endpoint only, around everything that may refuse it, so
    # that a page can read why.
    app.add_middleware(CorsMiddleware, paths=(FEEDBACK_PATH,), origins=settings.cors_origins)
    # Requests addressed to a name this server does not answer to (DNS rebinding) are
    # refused before anything else runs; inside the access log, which records them.
    app.add_middleware(HostCheckMiddleware, allowed=allowed_host_names(
        settings.auth, settings.insecure_no_auth, settings.allowed_hosts))
    app.add_middleware(AccessLogMiddleware)
    # Outermost: every statement of a request, auth's included, is bounded and cancelled
    # when the client goes away.
    app.add_middleware(QueryBoundsMiddleware, timeout_seconds=settings.statement_timeout_seconds)
    # The routes are built once per process and shared by every app (see _routes).
    app.router.routes.extend(_routes())
    return app


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """Every route of the server, built once per process.

    Building FastAPI's routes (their dependencies and response models) takes most of the time
    an app takes to create; the routes depend on nothing of one app (what they need comes
    from ``app.state`` at request time), so they are built once, each on its full path (see
    :mod:`assay.server.route_tables`), and every app serves the same route objects.
    """
    table = RouteTable()
    table.include_router(build_router())
    table.include_router(otlp.router)  # POST /v1/traces, OTLP's fixed path
    # MLflow's REST protocol (/api/2.0/mlflow, /api/3.0/mlflow, /ajax-api/…) for the stock
    # mlflow client; left out of the OpenAPI document.
    table.include_router(build_mlflow_router())
    table.include_router(login.router)  # /login, /logout
    # The web UI's pages (/, /experiments/…, /traces/…) come after the API, so they never
    # shadow /api, /v1, /health or /version.
    table.include_router(build_ui_router())
    # The review app for experts (/review/…): a labeling session's url points here.
    table.include_router(build_review_router())
    table.include_router(_server_routes())
    # The route that answers must be the one the auth middleware checked.
    routes = flatten(table, dependencies=[Depends(verify_route_action)])
    routes.append(declare(Mount("/static", app=StaticFiles(directory=STATIC_DIR),
                                name="static"), Action.PUBLIC))
    return tuple(routes)


def _server_routes() -> RouteTable:
    """``/health`` and ``/version``."""
    table = RouteTable(tags=["server"])

    @table.get("/health", response_model=HealthResponse,
               responses={503: {"model": ErrorResponse,
                                "description": "The store does not answer"}},
               openapi_extra=needs(Action.PUBLIC))
    def health(store: StoreDep) -> HealthResponse:
        """200 when the store answers a trivial read, 503 otherwise."""
        try:
            store.search_experiments(max_results=1)
        except StoreUnavailableError:
            raise
        except AssayError as exc:  # a closed store is as unavailable as a stopped database
            raise StoreUnavailableError(f"The store does not answer: {exc.message}") from exc
        return HealthResponse(status="ok")

    @table.get("/version", response_class=PlainTextResponse,
               responses={200: {"content": {"text/plain": {"example": __version__}}}},
               openapi_extra=needs(Action.PUBLIC))
    def version(request: Request) -> str:
        """Assay's version as plain text (as MLflow's server answers); to the stock mlflow
        client, the MLflow version whose protocol Assay serves, so that it sends spans by
        OTLP."""
        return version_for(request.headers.get("user-agent", ""))

    return table


def create_app_from_env() -> FastAPI:
    """The app for one uvicorn worker process: settings from ``ASSAY_SERVER_*``, its own store.

    ``assay server --workers N`` sets those variables and points uvicorn at this factory.
    """
    settings = ServerSettings.from_env()
    return create_app(settings, open_store(settings.backend_store_uri), owns_store=True)
