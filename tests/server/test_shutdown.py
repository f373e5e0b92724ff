"""Graceful shutdown of a real ``assay server`` process: SIGTERM while OTLP requests are in
flight. The requests being served finish, every one that was answered 2xx is in the database
afterwards, and the process exits 0 within the grace period."""

from __future__ import annotations

import gzip
import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from assay.store.sql import SqlStore
from local_http import LOCAL_TLS
from server.otlp_requests import PROTOBUF, make_batch
from server.processes import ServerProcess

GRACE_SECONDS = 20.0
LOAD_THREADS = 3


class HeldRequest:
    """A POST /v1/traces sent with ``Expect: 100-continue``, body held back.

    The server answers "100 Continue" only when the route starts reading the body, so once
    :meth:`wait_until_read` returns, the request is in the app: in flight.
    """

    def __init__(self, port: int, body: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.body = body
        self.buffer = b""
        self.sock.sendall(
            f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n".encode())

    def _head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            assert data, f"the connection closed: {self.buffer!r}"
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def wait_until_read(self) -> None:
        head = self._head()
        assert head.startswith(b"HTTP/1.1 100"), head

    def finish(self) -> int:
        """Send the body; the response's status."""
        self.sock.sendall(self.body)
        status = int(self._head().split(b" ", 2)[1])
        self.sock.close()
        return status


def _load(url: str, stop: threading.Event, answered: list[tuple[list[str], int]],
          failed: list[str]) -> None:
    """Send batches of 20 traces (gzip) until told to stop or the server is gone."""
    with httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=30) as http:
        while not stop.is_set():
            batch = make_batch(20, service="shutdown-test")
            try:
                response = http.post("/v1/traces", content=gzip.compress(batch.body()),
                                     headers=PROTOBUF | {"Content-Encoding": "gzip"})
            except httpx.TransportError as exc:
                failed.append(type(exc).__name__)  # refused or cut: not acknowledged
                return
            answered.append((batch.trace_ids, response.status_code))


def _wait_for(condition: threading.Event | None, check: object, what: str,
              server: ServerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (check() if callable(check) else check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{server.output()}"
        time.sleep(0.02)


def test_sigterm_finishes_requests_in_flight_and_loses_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'served.db'}"
    server = ServerProcess(uri, tmp_path, "--graceful-shutdown-timeout", str(GRACE_SECONDS))
    answered: list[tuple[list[str], int]] = []
    failed: list[str] = []
    stop = threading.Event()
    threads = []
    held_batches = [make_batch(30, service="shutdown-test") for _ in range(3)]
    try:
        url = server.wait_ready()
        held = [HeldRequest(server.port, batch.body()) for batch in held_batches]
        for request in held:
            request.wait_until_read()
        threads = [threading.Thread(target=_load, args=(url, stop, answered, failed),
                                    name=f"load-{i}") for i in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()
        _wait_for(None, lambda: len(answered) >= 10, "the load to get going", server)

        server.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        # uvicorn says so when it starts waiting for the requests in flight: ours among them.
        _wait_for(None, lambda: "Waiting for connections to close" in server.output(),
                  "the graceful shutdown to begin", server)
        try:
            httpx.get(f"{url}/health", verify=LOCAL_TLS, timeout=5)
            raise AssertionError("a stopping server accepted a new connection")
        except httpx.ConnectError:
            pass
        statuses = [request.finish() for request in held]
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        code = server.process.wait(timeout=GRACE_SECONDS)
        waited = time.monotonic() - stopped_at
    finally:
        stop.set()
        server.kill()
    output = server.output()
    assert statuses == [200, 200, 200], output
    assert code == 0, output
    assert waited < GRACE_SECONDS
    assert "Application shutdown complete" in output
    assert "Traceback" not in output, output

    acknowledged = {t for batch in held_batches for t in batch.trace_ids}
    acknowledged |= {t for trace_ids, status in answered if 200 <= status < 300
                     for t in trace_ids}
    assert all(status == 200 for _, status in answered), answered
    store = SqlStore(uri)
    try:
        experiment = store.find_experiment_by_name("shutdown-test")
        assert experiment is not None
        stored = {}
        token = None
        while True:
            page = store.search_traces([experiment.experiment_id], max_results=1000,
                                       page_token=token)
            stored.update({t.info.trace_id: len(t.data.spans) for t in page})
            token = page.token
            if not token:
                break
    finally:
        store.close()
    missing = acknowledged - stored.keys()
    assert not missing, f"{len(missing)} acknowledged traces are not stored"
    assert {stored[t] for t in acknowledged} == {3}
    # Nothing half-written either: whatever is stored is whole.
    assert set(stored.values()) == {3}
