"""The REST store's HTTP client against a real HTTP server that answers as told: what it
retries, what it does not, how long it keeps trying, and the errors it raises."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assay.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    StoreUnavailableError,
)
from assay.search.errors import FilterError
from assay.store.rest import RestStore
from assay.store.rest._http import RestClient
from threaded_server import ThreadedServer

calls: Counter[str] = Counter()


async def scripted(request: Request) -> Response:
    """``/{status}/{times}``: answer ``status`` the first ``times`` calls of this path, then
    200 with what was asked and how many calls it took."""
    status, times = int(request.path_params["status"]), int(request.path_params["times"])
    key = f"{request.method} {request.url.path} {request.query_params.get('k', '')}"
    calls[key] += 1
    if calls[key] <= times:
        headers = {"Retry-After": "0"} if status == 429 else {}
        return JSONResponse({"error_code": "X", "message": f"answered {status}"},
                            status_code=status, headers=headers)
    return JSONResponse({"calls": calls[key],
                         "authorization": request.headers.get("authorization")})


async def error(request: Request) -> Response:
    status = int(request.path_params["status"])
    body: dict[str, object] = {"error_code": "E", "message": f"the server's message {status}"}
    if request.query_params.get("position"):
        body["position"] = 7
        body["fragment"] = "bad"
    return JSONResponse(body, status_code=status)


app = Starlette(routes=[
    Route("/s/{status:int}/{times:int}", scripted, methods=["GET", "POST", "PUT", "DELETE"]),
    Route("/error/{status:int}", error, methods=["GET", "POST"]),
])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadedServer(app, name="scripted test server")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def client(url: str) -> Iterator[RestClient]:
    calls.clear()
    rest = RestClient(url, api_key="k-123", retry_seconds=10)
    yield rest
    rest.close()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("status", [429, 503])
def test_not_done_is_retried_whatever_the_method(client: RestClient, method: str,
                                                 status: int) -> None:
    assert client.call(method, f"/s/{status}/3")["calls"] == 4


@pytest.mark.parametrize("status", [500, 502, 504])
def test_maybe_done_is_retried_only_when_idempotent(client: RestClient, status: int) -> None:
    assert client.call("GET", f"/s/{status}/2", params={"k": "get"})["calls"] == 3
    assert client.call("POST", f"/s/{status}/2", params={"k": "otlp"},
                       idempotent=True)["calls"] == 3
    with pytest.raises(StoreUnavailableError, match=f"answered {status}"):
        client.call("POST", f"/s/{status}/2", params={"k": "post"})
    assert calls[f"POST /s/{status}/2 post"] == 1


@pytest.mark.parametrize(("status", "kind"), [
    (400, InvalidParameterError), (401, AuthenticationError), (404, NotFoundError),
    (413, InvalidParameterError),
])
def test_client_errors_are_raised_at_once_with_the_servers_message(
        client: RestClient, status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=f"the server's message {status}"):
        client.call("GET", f"/error/{status}")


def test_a_400_with_a_position_is_a_filter_error(client: RestClient) -> None:
    with pytest.raises(FilterError) as info:
        client.call("GET", "/error/400", params={"position": "1"})
    assert (info.value.position, info.value.fragment) == (7, "bad")


def test_the_api_key_is_sent_as_a_bearer_token(client: RestClient) -> None:
    assert client.call("GET", "/s/200/0")["authorization"] == "Bearer k-123"


def test_a_server_that_never_answers_is_unavailable_after_the_budget() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rest = RestClient(f"http://127.0.0.1:{port}", retry_seconds=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError, match=rf"127\.0\.0\.1:{port} is unavailable"):
            rest.call("GET", "/api/v1/experiments")
    finally:
        rest.close()
    assert time.monotonic() - started < 10  # gave up, did not hang


def test_the_store_reports_an_unreachable_server_by_its_uri() -> None:
    store = RestStore("http://127.0.0.1:9", retry_seconds=0)
    try:
        with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:9"):
            store.search_experiments()
    finally:
        store.close()
