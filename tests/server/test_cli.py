"""``assay server``: its flags, and the refusal to listen beyond loopback without auth."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assay.cli import build_parser, main
from assay.errors import InvalidParameterError
from assay.server.settings import ServerSettings, is_loopback
from assay.store.sql import SqlStore


def test_server_flags_parse() -> None:
    args = build_parser().parse_args([
        "server", "--host", "127.0.0.1", "--port", "5001",
        "--backend-store-uri", "sqlite:///x.db", "--workers", "2"])
    assert (args.host, args.port, args.backend_store_uri, args.workers) == (
        "127.0.0.1", 5001, "sqlite:///x.db", 2)
    assert args.allow_remote is False


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_non_loopback_host_is_refused_without_allow_remote(
        host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--host", host, "--port", "0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    ServerSettings(host=host).check()


def test_allow_remote_lets_any_host_through() -> None:
    ServerSettings(host="0.0.0.0", allow_remote=True).check()


@pytest.mark.parametrize("settings", [
    ServerSettings(port=70_000), ServerSettings(workers=0),
    ServerSettings(backend_store_uri="http://elsewhere"),
    ServerSettings(workers=2, backend_store_uri="sqlite:///:memory:"),
])
def test_bad_settings_are_refused(settings: ServerSettings) -> None:
    with pytest.raises(InvalidParameterError):
        settings.check()


def test_settings_survive_the_trip_to_worker_processes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServerSettings(host="0.0.0.0", port=5123, allow_remote=True,
                              backend_store_uri="sqlite:///w.db")
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert ServerSettings.from_env() == settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("workers", [1, 2])
def test_assay_server_serves_then_stops_gracefully(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'served.db'}"
    process = subprocess.Popen(
        [sys.executable, "-m", "assay.cli", "server", "--port", str(port),
         "--backend-store-uri", uri, "--workers", str(workers)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "assay server did not start"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/experiments",
                             json={"name": "from-cli"}, timeout=5)
        assert created.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal it caught: the exit status says
    # "stopped by SIGTERM" (or 0 when a supervisor process exits after its workers).
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "method=GET path=/health status=200" in output
    store = SqlStore(uri)
    try:
        assert store.find_experiment_by_name("from-cli") is not None
    finally:
        store.close()
