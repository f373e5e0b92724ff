"""Property-based requests from the committed OpenAPI document (schemathesis) against the app
on SQLite: no input the document allows, or nearly allows, gets a 5xx, and every answer has a
status and a body the document describes.

Bounded and derandomized, so CI runs the same cases every time in well under a minute; run
with ``ASSAY_SCHEMATHESIS_EXAMPLES=500`` to look harder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from assay.server import ServerSettings, create_app
from assay.server.openapi import COMMITTED_PATH
from assay.store.sql import SqlStore

EXAMPLES = int(os.environ.get("ASSAY_SCHEMATHESIS_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


class AppOfTheTest:
    """An ASGI app that hands each request to the app of the running test (made by the
    ``app`` fixture), so that the schema can be loaded once, at import."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the app fixture did not run"
        await self.app(scope, receive, send)


APP = AppOfTheTest()
# OTLP's protobuf body is bytes: sent as generated, like application/octet-stream. Random bytes
# exercise the protobuf parser's error path.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
schema = schemathesis.openapi.from_path(COMMITTED_PATH, config=SchemathesisConfig.from_dict({
    "seed": 20261122,
    "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
}))
schema.app = APP


@pytest.fixture(autouse=True)
def app(tmp_path: Path) -> Iterator[None]:
    """The app over a fresh SQLite file, for each operation's run."""
    store = SqlStore(f"sqlite:///{tmp_path / 'schemathesis.db'}")
    # Schemathesis addresses its requests to "testserver", which a server without auth
    # answers only when told to (see assay.server.hosts).
    APP.app = create_app(ServerSettings(port=0, backend_store_uri=store.uri,
                                        allowed_hosts=("testserver",)), store)
    yield
    APP.app = None
    store.close()


@schema.parametrize()
def test_no_server_errors_and_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
