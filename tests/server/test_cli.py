"""``assay server``: its flags, and the refusal to listen beyond loopback without auth; the
``assay users`` and ``assay keys`` commands."""

from __future__ import annotations

import getpass
import io
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
from local_http import LOCAL_TLS


def test_server_flags_parse() -> None:
    args = build_parser().parse_args([
        "server", "--host", "127.0.0.1", "--port", "5001",
        "--backend-store-uri", "sqlite:///x.db", "--workers", "2"])
    assert (args.host, args.port, args.backend_store_uri, args.workers) == (
        "127.0.0.1", 5001, "sqlite:///x.db", 2)
    assert (args.auth, args.insecure_no_auth, args.allow_remote) == (False, False, False)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_non_loopback_host_is_refused_without_auth(
        host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--host", host, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "without authentication" in err
    assert "--auth" in err and "--insecure-no-auth" in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    ServerSettings(host=host).check()


def test_auth_or_insecure_no_auth_lets_any_host_through() -> None:
    ServerSettings(host="0.0.0.0", auth=True).check()
    ServerSettings(host="0.0.0.0", insecure_no_auth=True).check()


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
    settings = ServerSettings(host="0.0.0.0", port=5123, insecure_no_auth=True,
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
                response = httpx.get(f"http://127.0.0.1:{port}/health", verify=LOCAL_TLS, timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "assay server did not start"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/experiments",
                             json={"name": "from-cli"}, verify=LOCAL_TLS, timeout=5)
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


# -- auth: --auth, --insecure-no-auth, and the users and keys commands -------------------------

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("flag", ["--insecure-no-auth", "--allow-remote", "--auth"])
def test_remote_hosts_need_auth_or_an_explicit_insecure_flag(
        flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    # --workers 0 stops the command right after the host check, before anything listens.
    assert main(["server", "--host", "0.0.0.0", flag, "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "Invalid workers 0" in err and "Refusing" not in err
    assert ("deprecated" in err) == (flag == "--allow-remote")


def test_auth_settings_survive_the_trip_to_worker_processes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServerSettings(host="0.0.0.0", auth=True, backend_store_uri="sqlite:///w.db")
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert ServerSettings.from_env() == settings


def test_users_and_keys_commands(database_uri: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = ["--backend-store-uri", database_uri]
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "create", "root", "--role", "admin", "--password-stdin", *db]) == 0
    assert "Created admin 'root'" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no password asked
    assert main(["users", "create", "ci-bot", *db]) == 0
    assert "has no password" in capsys.readouterr().out
    assert main(["users", "list", *db]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["USERNAME", "ROLE", "PASSWORD", "STATUS", "CREATED"]
    assert listing[1].split()[:4] == ["ci-bot", "member", "no", "active"]
    assert listing[2].split()[:4] == ["root", "admin", "yes", "active"]

    assert main(["keys", "create", "github actions", "--user", "ci-bot",
                 "--expires-in-days", "30", *db]) == 0
    created = capsys.readouterr()
    token = created.out.strip()
    assert created.out == token + "\n"  # the key alone on standard output
    assert "only time it is shown" in created.err and token not in created.err
    store = SqlStore(database_uri)
    try:
        user = store.authenticate_api_key(token)
        assert user is not None and user.username == "ci-bot"
        key_id = token.split("_")[1]
        assert main(["keys", "list", "--user", "ci-bot", *db]) == 0
        keys = capsys.readouterr().out
        assert key_id in keys and "active" in keys and "github actions" in keys
        assert token.split("_", 2)[2] not in keys
        assert main(["keys", "revoke", key_id, *db]) == 0
        capsys.readouterr()
        assert store.authenticate_api_key(token) is None
        assert main(["keys", "list", *db]) == 0
        assert "revoked" in capsys.readouterr().out

        assert main(["users", "set-role", "ci-bot", "viewer", *db]) == 0
        assert main(["users", "disable", "ci-bot", *db]) == 0
        assert store.get_user("ci-bot").disabled
        assert main(["users", "enable", "ci-bot", *db]) == 0
        monkeypatch.setattr(sys, "stdin", io.StringIO("a brand new password\n"))
        assert main(["users", "set-password", "ci-bot", "--password-stdin", *db]) == 0
        assert store.authenticate_password("ci-bot", "a brand new password") is not None
        user = store.get_user("ci-bot")
        assert (user.role.value, user.disabled) == ("viewer", False)
    finally:
        store.close()
    capsys.readouterr()

    for argv, message in [
            (["users", "create", "root"], "User 'root' already exists"),
            (["users", "create", "bad name"], "Invalid username"),
            (["keys", "create", "k", "--user", "ghost"], "User 'ghost' not found"),
            (["keys", "create", "k", "--user", "root", "--expires-in-days", "0"],
             "Invalid --expires-in-days"),
            (["keys", "revoke", "0123456789abcdef"], "'0123456789abcdef' not found"),
            (["users", "set-password", "root"], "No password given")]:
        assert main([*argv, *db]) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_users_create_asks_for_the_password_at_a_terminal(
        sqlite_uri: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([PASSWORD, PASSWORD, PASSWORD, "a different one"])
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert main(["users", "create", "alice", "--backend-store-uri", sqlite_uri]) == 0
    assert main(["users", "create", "bob", "--backend-store-uri", sqlite_uri]) == 2
    assert "The two passwords differ" in capsys.readouterr().err
    store = SqlStore(sqlite_uri)
    try:
        assert store.authenticate_password("alice", PASSWORD) is not None
        assert store.find_user_by_name("bob") is None
    finally:
        store.close()


def test_assay_server_with_auth(tmp_path: Path) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'auth.db'}"
    url = f"http://127.0.0.1:{port}"
    # Two workers: each rebuilds its settings (auth among them) from the environment.
    process = subprocess.Popen(
        [sys.executable, "-m", "assay.cli", "server", "--auth", "--port", str(port),
         "--backend-store-uri", uri, "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", verify=LOCAL_TLS, timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "assay server did not start"
                time.sleep(0.1)
        assert httpx.get(f"{url}/api/v1/experiments", verify=LOCAL_TLS,
                         timeout=5).status_code == 401
        store = SqlStore(uri)
        try:
            store.create_user("root", "admin")
            _, token = store.create_api_key("root", "test")
        finally:
            store.close()
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(4):  # whichever worker answers
            response = httpx.get(f"{url}/api/v1/users/me", headers=headers, verify=LOCAL_TLS,
                                 timeout=5)
            assert response.json()["user"]["username"] == "root"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "--auth is on but there are no users yet" in output
    assert "assay users create NAME --role admin" in output
