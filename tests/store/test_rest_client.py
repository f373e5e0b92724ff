"""The REST store's HTTP client against a real HTTP server that answers as told: what it
retries, what it does not, how long it keeps trying, and the errors it raises (read from the
answer's ``error_code``, not its status)."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assay.errors import (
    AlreadyExistsError,
    AssayError,
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RequestTooLargeError,
    StoreUnavailableError,
)
from assay.search.errors import FilterError
from assay.store.rest import RestStore
from assay.store.rest._http import RestClient
from threaded_server import ThreadedServer

if TYPE_CHECKING:
    from server.live import LiveServer

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
    """``/error/{status}?code=…``: answer ``status`` with the error code (default "E", one no
    client knows), or with a page that is not JSON (``?page=1``)."""
    status = int(request.path_params["status"])
    calls[f"error {status}"] += 1
    if request.query_params.get("page"):
        return Response("<h1>Not here</h1>", status_code=status, media_type="text/html")
    code = request.query_params.get("code", "E")
    body: dict[str, object] = {"error_code": code, "message": f"the server's message {status}"}
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


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, "INVALID_PARAMETER_VALUE", InvalidParameterError),
    (401, "UNAUTHENTICATED", AuthenticationError),
    (403, "PERMISSION_DENIED", PermissionDeniedError),
    (403, "CSRF_FAILED", PermissionDeniedError),
    (404, "RESOURCE_DOES_NOT_EXIST", NotFoundError),
    (409, "RESOURCE_ALREADY_EXISTS", AlreadyExistsError),
    (413, "REQUEST_TOO_LARGE", RequestTooLargeError),
])
def test_client_errors_are_raised_at_once_with_the_servers_message(
        client: RestClient, status: int, code: str, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=f"the server's message {status}") as info:
        client.call("GET", f"/error/{status}", params={"code": code})
    assert type(info.value) is kind
    assert calls[f"error {status}"] == 1  # not sent again


def test_the_error_code_decides_not_the_status(client: RestClient) -> None:
    with pytest.raises(NotFoundError):
        client.call("GET", "/error/400", params={"code": "RESOURCE_DOES_NOT_EXIST"})
    with pytest.raises(AlreadyExistsError):
        client.call("GET", "/error/400", params={"code": "RESOURCE_ALREADY_EXISTS"})


@pytest.mark.parametrize(("status", "kind"), [
    (400, InvalidParameterError), (401, AuthenticationError), (403, PermissionDeniedError),
    (413, InvalidParameterError),
])
def test_a_code_the_client_does_not_know_is_read_by_its_status(
        client: RestClient, status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind, match=f"the server's message {status}"):
        client.call("GET", f"/error/{status}")


@pytest.mark.parametrize("params", [{"code": "ENDPOINT_NOT_FOUND"}, {"page": "1"}])
@pytest.mark.parametrize("status", [404, 409])
def test_a_404_or_409_without_the_servers_code_is_no_missing_or_existing_resource(
        client: RestClient, status: int, params: dict[str, str]) -> None:
    # The SDK reads a NotFoundError as "there is none" (find_* returns None): a proxy's page
    # or a path that is no Assay route must not look like one.
    with pytest.raises(AssayError, match="an Assay server") as info:
        client.call("GET", f"/error/{status}", params=params)
    assert not isinstance(info.value, NotFoundError | AlreadyExistsError)
    assert f"HTTP {status}" in info.value.message


def test_a_400_with_a_position_is_a_filter_error(client: RestClient) -> None:
    with pytest.raises(FilterError) as info:
        client.call("GET", "/error/400",
                    params={"position": "1", "code": "INVALID_PARAMETER_VALUE"})
    assert (info.value.position, info.value.fragment) == (7, "bad")


@pytest.mark.rest
def test_a_uri_that_is_no_assay_servers_address_is_not_read_as_no_experiment(
        rest_server: LiveServer) -> None:
    # A path under the server that no route takes answers 404 ENDPOINT_NOT_FOUND: the SDK
    # must say so, not conclude that the experiment does not exist (and try to create it).
    store = RestStore(f"{rest_server.url}/not-assay", retry_seconds=0)
    try:
        with pytest.raises(AssayError, match="ENDPOINT_NOT_FOUND") as info:
            store.find_experiment_by_name("Default")
        assert not isinstance(info.value, NotFoundError)
    finally:
        store.close()
    served = RestStore(rest_server.url, retry_seconds=0)
    try:
        assert served.find_experiment_by_name("no such experiment") is None
    finally:
        served.close()


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
