"""HTTP basic credentials with an API key as the password (what the stock mlflow client sends
from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD), on a server with auth."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest

from assay.store.sql import SqlStore
from server.auth_servers import PASSWORD, AuthServer, serve_with_auth


@pytest.fixture
def auth_server(sql_store: SqlStore) -> Iterator[AuthServer]:
    with serve_with_auth(sql_store) as server:
        yield server


def _basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_a_key_as_the_password_of_its_user_is_accepted(auth_server: AuthServer) -> None:
    with auth_server.client(headers=_basic("member", auth_server.keys["member"])) as http:
        assert http.get("/api/v1/users/me").status_code == 200
        created = http.post("/api/2.0/mlflow/experiments/create", json={"name": "basic"})
        assert created.status_code == 200, created.text
    with auth_server.client(headers=_basic("viewer", auth_server.keys["viewer"])) as http:
        assert http.get("/api/2.0/mlflow/experiments/get-by-name",
                        params={"experiment_name": "basic"}).status_code == 200
        refused = http.post("/api/2.0/mlflow/experiments/create", json={"name": "other"})
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "PERMISSION_DENIED"


_OTHER_CREDENTIALS: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "another user's key": lambda keys: _basic("viewer", keys["member"]),
    "the sign-in password": lambda keys: _basic("member", PASSWORD),
    "no such key": lambda keys: _basic("member", "assay_not_a_key"),
    "no username": lambda keys: _basic("", keys["member"]),
    "not base64": lambda keys: {"Authorization": "Basic !!!not-base64"},
    "no colon": lambda keys: {"Authorization": "Basic " + base64.b64encode(b"x").decode()},
    "empty": lambda keys: {"Authorization": "Basic "},
    "another scheme": lambda keys: {"Authorization": "Digest whatever"},
}


@pytest.mark.parametrize("case", list(_OTHER_CREDENTIALS))
def test_other_basic_credentials_are_401(auth_server: AuthServer, case: str) -> None:
    header = _OTHER_CREDENTIALS[case](auth_server.keys)
    with auth_server.client(headers=header) as http:
        response = http.get("/api/2.0/mlflow/experiments/search")
        assert response.status_code == 401, response.text
        assert response.json()["error_code"] == "UNAUTHENTICATED"
