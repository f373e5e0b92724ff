"""Credentials never appear in an error or a log line: a tracking URI with a password, over
HTTP (a closed port, a server that answers 500) and to PostgreSQL, through the REST store,
the SQL store and the exporter; and whatever a quoted message carries is masked."""

from __future__ import annotations

import base64
import logging
import socket
import time
import traceback
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import assay
from assay import _runtime
from assay.errors import AssayError, StoreUnavailableError, mask_secrets
from assay.settings import Settings
from assay.store.rest import RestStore
from assay.store.sql import SqlStore
from assay.store.uri import mask_uri
from threaded_server import ThreadedServer

PASSWORD = "s3cret-Pa55"
KEY = "assay_k1_verysecretkeymaterial"

received: list[str | None] = []


async def failing(request: Request) -> Response:
    """Every request fails, as a broken proxy would: a 500 whose text quotes the upstream
    URL with its credentials."""
    received.append(request.headers.get("authorization"))
    return PlainTextResponse(f"upstream http://admin:{PASSWORD}@10.0.0.1:5000 failed",
                             status_code=500)


@pytest.fixture(scope="module")
def failing_url() -> Iterator[str]:
    server = ThreadedServer(Starlette(routes=[
        Route("/{path:path}", failing, methods=["GET", "POST"])]), name="failing server")
    server.start()
    yield server.url
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections are refused


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def everything_said(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """The exception as printed (with its causes) and every log line of any level."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + caplog.text + "".join(
        f"{r.getMessage()} {r.args!r}" for r in caplog.records)


def test_a_closed_port_error_hides_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = RestStore(with_password(f"http://127.0.0.1:{closed_port()}"), api_key=KEY,
                      retry_seconds=0.3)
    with pytest.raises(StoreUnavailableError) as raised:
        store.get_experiment("0")
    store.close()
    said = everything_said(raised.value, caplog)
    assert "is unavailable" in said and "127.0.0.1" in said
    assert PASSWORD not in said and KEY not in said
    assert "alice:***@" in store.uri


def test_a_server_error_hides_the_password_but_sends_it(
        failing_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    received.clear()
    store = RestStore(with_password(failing_url), retry_seconds=0.3)
    with pytest.raises(StoreUnavailableError) as raised:
        store.get_experiment("0")
    with pytest.raises(StoreUnavailableError) as raised_once:
        store.create_experiment("not idempotent: one try")
    store.close()
    said = everything_said(raised.value, caplog) + everything_said(raised_once.value, caplog)
    assert "HTTP 500" in said
    assert PASSWORD not in said
    # The user and password still reach the server, as basic auth.
    assert received and set(received) == {
        "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}


def test_the_exporter_warns_without_the_password(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ASSAY_HTTP_RETRY_SECONDS", "0.2")
    runtime = _runtime.reset(Settings(
        tracking_uri=with_password(f"http://127.0.0.1:{closed_port()}"),
        export_exit_timeout=1.0))
    try:
        with assay.start_span("answer"):
            pass
        deadline = time.monotonic() + 20
        while "cannot reach" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    finally:
        _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
        runtime.close()
    assert "1 failed" in caplog.text  # the totals, said when the exporter stopped
    assert PASSWORD not in caplog.text + "".join(repr(r.args) for r in caplog.records)


@pytest.mark.postgres
@pytest.mark.parametrize("uri", [
    f"postgresql://postgres:{PASSWORD}@127.0.0.1:{{port}}/test",
    f"postgresql://postgres@127.0.0.1:{{port}}/test?password={PASSWORD}",
])
def test_a_database_error_hides_the_password(uri: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AssayError) as raised:
        SqlStore(uri.format(port=closed_port()))
    said = everything_said(raised.value, caplog)
    assert "Cannot use the database" in said
    assert PASSWORD not in said


@pytest.mark.parametrize(("text", "masked"), [
    ("at http://alice:pw@host:5000/x", "at http://alice:***@host:5000/x"),
    ("http://u:p@ss@host/ and postgresql://a:b@c/d", "http://u:***@host/ and "
                                                      "postgresql://a:***@c/d"),
    ("postgresql://h/db?sslpassword=x&password=y&a=1",
     "postgresql://h/db?sslpassword=***&password=***&a=1"),
    ("host=h password='a b' dbname=x", "host=h password=*** dbname=x"),
    ("GET /x?token=abc&api_key=def", "GET /x?token=***&api_key=***"),
    ("Authorization: Bearer assay_k1_secret", "Authorization: Bearer ***"),
    ('{"authorization": "Basic YWxpY2U6cHc="}', '{"authorization": "Basic ***"}'),
    ("sent as bearer assay_k1_abcdefgh", "sent as bearer ***"),
    # What holds no credential stays as it is.
    ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ("http://alice@host:5000", "http://alice@host:5000"),
    ("a basic attribute of a bearer token", "a basic attribute of a bearer token"),
])
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked
    assert AssayError(text).message == masked and str(AssayError(text)) == masked


def test_mask_secrets_is_linear_in_long_text() -> None:
    for text in ("a." * 200_000, "x://u:" + "b" * 400_000, "password" * 50_000):
        started = time.perf_counter()
        mask_secrets(text)
        assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("uri", "masked"), [
    ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u@h/db?sslmode=require&password=pw",
     "postgresql://u@h/db?sslmode=require&password=***"),
    ("http://h:5000?token=t&x=1", "http://h:5000?token=***&x=1"),
    ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
])
def test_mask_uri(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
