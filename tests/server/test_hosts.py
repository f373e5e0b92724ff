"""The Host check against DNS rebinding, over a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.cli import build_parser
from assay.errors import InvalidParameterError
from assay.server.hosts import allowed_host_names, host_name, is_loopback_name
from assay.server.settings import ServerSettings
from assay.store.sql import SqlStore
from server.live import in_process


def _serve(tmp_path: Path, **settings: object) -> Iterator[httpx.Client]:
    store = SqlStore(f"sqlite:///{tmp_path / 'hosts.db'}")
    try:
        with in_process(store, ServerSettings(port=0, backend_store_uri=store.uri,
                                              **settings)) as served:  # type: ignore[arg-type]
            yield served.http
    finally:
        store.close()


@pytest.fixture
def no_auth(tmp_path: Path) -> Iterator[httpx.Client]:
    yield from _serve(tmp_path)


def test_without_auth_a_rebound_name_is_refused_before_any_route(
        no_auth: httpx.Client) -> None:
    for method, path in (("GET", "/health"), ("GET", "/"), ("GET", "/experiments/0.json"),
                         ("GET", "/api/v1/experiments"), ("POST", "/api/v1/experiments")):
        response = no_auth.request(method, path, json={"name": "x"},
                                   headers={"Host": "attacker.example:5000"})
        assert response.status_code == 403, (method, path, response.text)
        body = response.json()
        assert body["error_code"] == "PERMISSION_DENIED"
        assert "'attacker.example' is not allowed" in body["message"]
        assert "--allowed-host" in body["message"]
    # Nothing was created through the refused POST.
    names = [e["name"] for e in no_auth.get("/api/v1/experiments").json()["experiments"]]
    assert "x" not in names


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:5000", "localhost:5000",
                                  "LOCALHOST", "app.localhost:80", "[::1]:5000", "127.8.9.10",
                                  "localhost."])
def test_without_auth_loopback_names_are_answered(no_auth: httpx.Client, host: str) -> None:
    assert no_auth.get("/health", headers={"Host": host}).status_code == 200


def test_allowed_host_adds_a_name(tmp_path: Path) -> None:
    for http in _serve(tmp_path, allowed_hosts=("assay.internal",)):
        assert http.get("/health", headers={"Host": "assay.internal:8080"}).status_code == 200
        assert http.get("/health", headers={"Host": "Assay.Internal"}).status_code == 200
        assert http.get("/health", headers={"Host": "127.0.0.1"}).status_code == 200
        assert http.get("/health", headers={"Host": "other.internal"}).status_code == 403


def test_with_auth_any_name_reaches_authentication(tmp_path: Path) -> None:
    for http in _serve(tmp_path, auth=True):
        response = http.get("/api/v1/experiments", headers={"Host": "assay.example.com"})
        assert response.status_code == 401, response.text


def test_with_auth_allowed_hosts_narrow_the_names(tmp_path: Path) -> None:
    for http in _serve(tmp_path, auth=True, allowed_hosts=("assay.example.com",)):
        assert http.get("/health", headers={"Host": "assay.example.com"}).status_code == 200
        assert http.get("/health", headers={"Host": "localhost"}).status_code == 200
        assert http.get("/health", headers={"Host": "evil.example.com"}).status_code == 403


def test_a_star_allows_every_name(tmp_path: Path) -> None:
    for http in _serve(tmp_path, allowed_hosts=("*",)):
        assert http.get("/health", headers={"Host": "anything.example"}).status_code == 200


def test_a_long_host_is_cut_in_the_message(no_auth: httpx.Client) -> None:
    response = no_auth.get("/health", headers={"Host": "a" * 5000})
    assert response.status_code == 403
    assert len(response.json()["message"]) < 400


@pytest.mark.parametrize("header, name", [("Example.COM:443", "example.com"),
                                          ("[::1]:5000", "[::1]"), ("[::1]", "[::1]"),
                                          ("host.", "host"), (" 10.0.0.5:80 ", "10.0.0.5")])
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_loopback_names() -> None:
    assert all(map(is_loopback_name, ["localhost", "a.localhost", "127.0.0.1", "127.255.0.1",
                                      "[::1]"]))
    assert not any(map(is_loopback_name, ["localhost.example.com", "10.0.0.1", "[::2]",
                                          "example", "notlocalhost"]))


def test_allowed_host_names_rules() -> None:
    assert allowed_host_names(False, False, ()) == frozenset()
    assert allowed_host_names(True, False, ()) is None
    assert allowed_host_names(False, True, ()) is None
    assert allowed_host_names(True, False, ("A.example:80",)) == frozenset({"a.example"})
    assert allowed_host_names(False, False, ("x", "*")) is None


@pytest.mark.parametrize("bad", ["http://assay.example.com", "assay.example.com:80",
                                 "assay.example.com/path", "", "a b", "-bad.example"])
def test_settings_refuse_what_is_not_a_host_name(bad: str) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid allowed host"):
        ServerSettings(allowed_hosts=(bad,)).check()


def test_settings_take_host_names_and_round_trip_through_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServerSettings(allowed_hosts=("assay.example.com", "10.0.0.5", "[fd00::1]",
                                             "*")).check()
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert ServerSettings.from_env().allowed_hosts == settings.allowed_hosts


def test_cli_takes_repeated_allowed_hosts() -> None:
    args = build_parser().parse_args(["server", "--allowed-host", "a.example",
                                      "--allowed-host", "b.example"])
    assert args.allowed_host == ["a.example", "b.example"]
