"""Authentication, roles and CSRF over HTTP, against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from assay.entities.label_schema import InputPassFail, LabelSchema, LabelSchemaType
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.entities.user import Role, User
from assay.server.auth import ApiKeyCache, LoginThrottle
from assay.server.csrf import CsrfSigner, form_field
from assay.server.login import safe_next
from assay.server.permissions import Action, is_allowed
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import api_keys, login_sessions
from factories import make_trace
from server.auth_servers import PASSWORD, AuthServer, serve_with_auth
from server.live import in_process


@pytest.fixture
def auth_server(sql_store: SqlStore) -> Iterator[AuthServer]:
    with serve_with_auth(sql_store) as server:
        yield server


@pytest.fixture
def rows(database_uri: str, sql_store: SqlStore) -> Iterator[sa.Engine]:
    engine, _ = create_engine(database_uri)
    yield engine
    engine.dispose()


def _csrf_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def _sign_in(server: AuthServer, browser: httpx.Client, username: str = "member",
             password: str = PASSWORD, next_path: str = "/") -> httpx.Response:
    form = browser.get("/login", params={"next": next_path})
    assert form.status_code == 200
    return browser.post("/login", data={"username": username, "password": password,
                                        "next": next_path, "csrf_token": _csrf_token(form)})


def _otlp_body() -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    span.span_id = bytes.fromhex("b7ad6b7169203331")
    span.name = "root"
    span.start_time_unix_nano = 1_700_000_000_000_000_000
    span.end_time_unix_nano = 1_700_000_000_500_000_000
    return request.SerializeToString()


# -- who is calling ---------------------------------------------------------------------------

def test_api_without_credentials_is_401_with_www_authenticate(auth_server: AuthServer) -> None:
    with auth_server.client() as http:
        for method, path in [("GET", "/api/v1/experiments"), ("POST", "/api/v1/traces/search"),
                             ("POST", "/v1/traces"), ("GET", "/api/v1/users/me"),
                             ("GET", "/api/2.0/mlflow/experiments/get"),
                             ("GET", "/experiments/0.json")]:
            response = http.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error_code"] == "UNAUTHENTICATED"
            assert "Bearer" in response.json()["message"]
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert auth_server.store.search_traces(["0"]) == []


def test_pages_without_credentials_redirect_to_login(auth_server: AuthServer) -> None:
    with auth_server.client(headers={"Accept": "text/html"}) as http:
        home = http.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == "/login?next=%2F"
        deep = http.get("/experiments/0", params={"q": "a b"})
        assert deep.status_code == 303
        assert deep.headers["location"] == "/login?next=%2Fexperiments%2F0%3Fq%3Da%2Bb"
        form = http.get(deep.headers["location"])
        assert form.status_code == 200
        assert 'name="next" value="/experiments/0?q=a+b"' in form.text


def test_public_paths_need_no_credentials(auth_server: AuthServer) -> None:
    with auth_server.client() as http:
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/version").status_code == 200
        assert http.get("/static/assay.css").status_code == 200
        assert http.get("/login").status_code == 200
        # The browser feedback endpoint checks its own signed token, not a key.
        assert http.post("/api/v1/feedback", json={}).status_code != 401
        assert http.options("/api/v1/feedback").status_code != 401
        # Credentials that do not work do not matter there either.
        assert http.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 200


@pytest.mark.parametrize("header", [
    "Bearer assay_0123456789abcdef_" + "A" * 43, "Bearer not-a-key", "Bearer",
    "Basic dXNlcjpwYXNz", "assay_0123456789abcdef"])
def test_a_bad_key_is_401(auth_server: AuthServer, header: str) -> None:
    with auth_server.client() as http:
        response = http.get("/api/v1/experiments", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    credential = header.split(" ")[-1]
    assert len(credential) < 8 or credential not in response.text


def test_a_wrong_secret_for_a_real_key_id_is_401(auth_server: AuthServer) -> None:
    key = auth_server.keys["member"]
    prefix, _, secret = key.rpartition("_")
    forged = f"{prefix}_{'B' if secret[0] == 'A' else 'A'}{secret[1:]}"
    with auth_server.client() as http:
        response = http.get("/api/v1/experiments", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_revoked_key_is_refused_at_once(auth_server: AuthServer) -> None:
    key_id, token = auth_server.store.create_api_key("member", "to revoke")
    headers = {"Authorization": f"Bearer {token}"}
    with auth_server.client() as http, auth_server.client("admin") as admin:
        assert http.get("/api/v1/experiments", headers=headers).status_code == 200
        assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 200
        refused = http.get("/api/v1/experiments", headers=headers)
        assert refused.status_code == 401
        assert "revoked" in refused.json()["message"]
        assert admin.delete("/api/v1/keys/ffffffffffffffff").status_code == 404


def test_expired_key_and_disabled_user_are_refused(auth_server: AuthServer,
                                                   rows: sa.Engine) -> None:
    key_id, token = auth_server.store.create_api_key("member", "short",
                                                     expires_in=timedelta(days=1))
    with rows.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                     .values(expires_time_ms=1))
    with auth_server.client() as http, auth_server.client("admin") as admin:
        assert http.get("/api/v1/experiments",
                        headers={"Authorization": f"Bearer {token}"}).status_code == 401
        viewer = {"Authorization": f"Bearer {auth_server.keys['viewer']}"}
        assert http.get("/api/v1/experiments", headers=viewer).status_code == 200
        disabled = admin.patch("/api/v1/users/viewer", json={"disabled": True})
        assert disabled.status_code == 200 and disabled.json()["user"]["disabled"] is True
        assert http.get("/api/v1/experiments", headers=viewer).status_code == 401


# -- what each role may do --------------------------------------------------------------------

def test_viewer_reads_but_cannot_write(auth_server: AuthServer) -> None:
    auth_server.store.log_traces([make_trace()])
    with auth_server.client("viewer") as http:
        assert http.get("/api/v1/experiments").status_code == 200
        search = http.post("/api/v1/traces/search", json={"experiment_ids": ["0"]})
        assert search.status_code == 200 and len(search.json()["traces"]) == 1
        for method, path, kwargs in [
                ("POST", "/api/v1/experiments", {"json": {"name": "nope"}}),
                ("POST", "/v1/traces", {"content": _otlp_body(),
                                        "headers": {"content-type": "application/x-protobuf"}}),
                ("POST", "/api/v1/traces/delete", {"json": {"experiment_id": "0"}})]:
            response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 403, (path, response.text)
            body = response.json()
            assert body["error_code"] == "PERMISSION_DENIED"
            assert "'viewer' (viewer) may not change anything" in body["message"]
    assert auth_server.store.find_experiment_by_name("nope") is None
    assert len(auth_server.store.search_traces(["0"])) == 1


def test_member_reads_and_writes_with_a_key(auth_server: AuthServer) -> None:
    with auth_server.client("member") as http:
        created = http.post("/api/v1/experiments", json={"name": "by-member"})
        assert created.status_code == 200, created.text
        ingest = http.post("/v1/traces", content=_otlp_body(),
                           headers={"content-type": "application/x-protobuf",
                                    "x-assay-experiment-id": created.json()["experiment_id"]})
        assert ingest.status_code == 200, ingest.text
        trace_id = "tr-0af7651916cd43dd8448eb211c80319c"
        feedback = http.post(f"/api/v1/traces/{trace_id}/feedback",
                             json={"name": "correct", "value": True})
        assert feedback.status_code == 200, feedback.text
        assert http.get("/api/v1/users").status_code == 403
    trace = auth_server.store.get_trace(trace_id)
    assert [a.name for a in trace.info.assessments] == ["correct"]


def test_user_and_key_routes_are_for_admins(auth_server: AuthServer, rows: sa.Engine) -> None:
    with auth_server.client("admin") as admin:
        listed = admin.get("/api/v1/users").json()["users"]
        assert [u["username"] for u in listed] == ["admin", "member", "reviewer", "viewer"]
        created = admin.post("/api/v1/users", json={"username": "dana", "role": "viewer",
                                                    "password": "a long password"})
        assert created.status_code == 200, created.text
        assert created.json()["user"] == {
            "username": "dana", "role": "viewer", "disabled": False, "has_password": True,
            "created_time_ms": created.json()["user"]["created_time_ms"]}
        assert admin.post("/api/v1/users", json={"username": "dana"}).status_code == 409
        bad_role = admin.post("/api/v1/users", json={"username": "eve", "role": "owner"})
        assert bad_role.status_code == 400 and "role" in bad_role.json()["message"]
        new_key = admin.post("/api/v1/users/dana/keys",
                             json={"name": "laptop", "expires_in_days": 30})
        assert new_key.status_code == 200, new_key.text
        token = new_key.json()["key"]
        key_id = new_key.json()["api_key"]["key_id"]
        assert token.startswith(f"assay_{key_id}_")
        keys = admin.get("/api/v1/users/dana/keys").json()["keys"]
        assert [k["key_id"] for k in keys] == [key_id]
        assert token not in str(keys) and token.split("_", 2)[2] not in str(keys)
        assert admin.get("/api/v1/users/ghost/keys").status_code == 404
        promoted = admin.patch("/api/v1/users/dana", json={"role": "member"})
        assert promoted.json()["user"]["role"] == "member"
    with auth_server.client() as http:
        me = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"auth_enabled": True, "user": {
            "username": "dana", "role": "member", "disabled": False, "has_password": True,
            "created_time_ms": me.json()["user"]["created_time_ms"]}}
    with rows.connect() as conn:  # only a hash of the key's secret is kept
        stored = [dict(r._mapping) for r in conn.execute(sa.select(api_keys))]
    assert token.split("_", 2)[2] not in str(stored) and token not in str(stored)
    for role in ("member", "viewer", "reviewer"):
        with auth_server.client(role) as http:
            for method, path in [("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
                                 ("POST", "/api/v1/users/dana/keys"),
                                 ("GET", "/api/v1/users/dana/keys"),
                                 ("DELETE", f"/api/v1/keys/{key_id}")]:
                response = http.request(method, path, json={"username": "x", "name": "x"})
                assert response.status_code == 403, (role, method, path)
                assert "admins only" in response.json()["message"]
            assert http.get("/api/v1/users/me").json()["user"]["role"] == role


def test_reviewer_sees_nothing_unassigned(auth_server: AuthServer) -> None:
    trace = make_trace()
    auth_server.store.log_traces([trace])
    trace_id = trace.info.trace_id
    with auth_server.client("reviewer") as http:
        for method, path in [("GET", "/api/v1/experiments"), ("GET", f"/api/v1/traces/{trace_id}"),
                             ("POST", "/api/v1/traces/search"), ("POST", "/api/v1/sessions/search"),
                             ("GET", "/"), ("GET", f"/traces/{trace_id}"),
                             ("POST", f"/api/v1/traces/{trace_id}/feedback")]:
            response = http.request(method, path, json={"experiment_ids": ["0"]})
            assert response.status_code == 403, (method, path, response.text)
            assert trace_id not in response.text or path.endswith(trace_id) \
                or "feedback" in path
        assert http.get("/api/v1/users/me").json()["user"]["role"] == "reviewer"


def test_a_reviewer_works_on_their_sessions_items_only_and_as_themself(
        auth_server: AuthServer) -> None:
    store = auth_server.store
    store.create_label_schema(LabelSchema("ok", LabelSchemaType.FEEDBACK, InputPassFail(),
                                          experiment_id="0"))
    mine, theirs = (store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name=name, label_schemas=("ok",),
        assigned_users=(user,))) for name, user in (("mine", "reviewer"), ("theirs", "member")))
    traces = [make_trace(), make_trace()]
    store.log_traces(traces)
    mine_item, their_item = (t.info.trace_id for t in traces)
    store.add_labeling_items(mine.run_id, [mine_item])
    store.add_labeling_items(theirs.run_id, [their_item])
    sessions = "/api/v1/labeling-sessions"
    with auth_server.client("reviewer") as http:
        listed = http.get("/api/v1/experiments/0/labeling-sessions",
                          params={"reviewer": "member"}).json()["labeling_sessions"]
        assert [s["name"] for s in listed] == ["mine"]
        assert http.get(f"{sessions}/{theirs.run_id}").status_code == 404
        assert http.get(f"{sessions}/{theirs.run_id}/items/{their_item}").status_code == 404
        assert http.post(f"{sessions}/{theirs.run_id}/next", json={}).status_code == 403
        assert http.post(f"{sessions}/{mine.run_id}/next",
                         json={"reviewer": "member"}).status_code == 403
        assert http.post(f"{sessions}/{mine.run_id}/next", json={}).json() == {
            "trace_id": mine_item}
        item = http.get(f"{sessions}/{mine.run_id}/items/{mine_item}")
        assert item.status_code == 200 and item.json()["trace"]["info"]["trace_id"] == mine_item
        assert http.get(f"/api/v1/traces/{mine_item}").status_code == 403
        answered = http.post(f"{sessions}/{mine.run_id}/items/{mine_item}/answers",
                             json={"answers": {"ok": True}})
        assert answered.status_code == 200, answered.text
        assert answered.json()["assessments"][0]["source"]["source_id"] == "reviewer"
        for method, path in [("POST", sessions), ("POST", f"{sessions}/{mine.run_id}/items"),
                             ("DELETE", f"{sessions}/{mine.run_id}"),
                             ("GET", f"{sessions}/{mine.run_id}/answers")]:
            response = http.request(method, path, json={"trace_ids": [their_item]})
            assert response.status_code == 403, (method, path, response.text)
    with auth_server.client("viewer") as http:
        assert http.post(f"{sessions}/{mine.run_id}/next", json={}).status_code == 403
    with auth_server.client("member") as http:
        assert http.post(f"{sessions}/{theirs.run_id}/next", json={}).json() == {
            "trace_id": their_item}


def test_permission_table() -> None:
    def user(role: Role, disabled: bool = False) -> User:
        return User(role.value, role, 0, disabled)

    anyone = {Action.PUBLIC, Action.SIGN_IN, Action.IDENTIFY}
    allowed = {role: {action for action in Action if is_allowed(user(role), action)}
               for role in Role}
    assert allowed == {
        Role.ADMIN: set(Action),
        Role.MEMBER: anyone | {Action.READ, Action.REVIEW, Action.WRITE},
        Role.VIEWER: anyone | {Action.READ},
        Role.REVIEWER: anyone | {Action.REVIEW},
    }
    assert not is_allowed(user(Role.ADMIN, disabled=True), Action.READ)
    assert not is_allowed(user(Role.REVIEWER, disabled=True), Action.REVIEW)


# -- signing in -------------------------------------------------------------------------------

def test_login_wrong_password_then_right_one_then_pages(auth_server: AuthServer) -> None:
    with auth_server.client(headers={"Accept": "text/html"}) as browser:
        form = browser.get("/login")
        assert 'autocomplete="current-password"' in form.text
        assert '<label for="username">' in form.text and "autofocus" in form.text
        wrong = _sign_in(auth_server, browser, password="not the password")
        assert wrong.status_code == 401
        assert "Wrong username or password." in wrong.text
        assert 'value="member"' in wrong.text and "not the password" not in wrong.text
        assert "assay_session" not in browser.cookies
        unknown = _sign_in(auth_server, browser, username="nobody")
        assert "Wrong username or password." in unknown.text
        no_password = _sign_in(auth_server, browser, username="viewer")
        assert no_password.status_code == 401

        signed_in = _sign_in(auth_server, browser, next_path="/experiments/0")
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/experiments/0"
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("assay_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert "Secure" not in cookie  # plain http here
        page = browser.get("/")
        assert page.status_code == 200 and "member" in page.text
        me = browser.get("/api/v1/users/me")
        assert me.json()["user"]["username"] == "member"
        assert browser.get("/login").status_code == 303  # already signed in


def test_login_next_stays_on_this_server() -> None:
    assert safe_next("/experiments/1?x=2") == "/experiments/1?x=2"
    for target in [None, "", "https://evil.example", "//evil.example/x", "/\\evil.example",
                   "javascript:alert(1)", "/login", "/logout?x", "/a\nb"]:
        assert safe_next(target) == "/", target


def test_failed_sign_ins_are_throttled(auth_server: AuthServer) -> None:
    with auth_server.client() as browser:
        for _ in range(5):
            assert _sign_in(auth_server, browser, password="wrong guess").status_code == 401
        locked = _sign_in(auth_server, browser)  # even the right password, for now
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.text
        assert int(locked.headers["retry-after"]) > 0
        assert "assay_session" not in browser.cookies


def test_login_throttle_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("Alice", "10.0.0.1") == 0
        throttle.record_failure("Alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 60
    assert throttle.retry_after("alice", "10.0.0.2") == 0  # another address
    now[0] += 61
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    throttle.record_failure("alice", "10.0.0.1")
    throttle.reset("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 0


def test_logout_ends_the_session_everywhere(auth_server: AuthServer, rows: sa.Engine) -> None:
    with auth_server.client() as browser:
        assert _sign_in(auth_server, browser).status_code == 303
        session = browser.cookies["assay_session"]
        with rows.connect() as conn:
            stored = conn.execute(sa.select(login_sessions.c.session_hash)).scalars().all()
        assert len(stored) == 1 and session not in stored[0]
        page = browser.get("/")
        logout = browser.post("/logout", data={"csrf_token": _csrf_token(page)})
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        assert "assay_session" not in browser.cookies
    with auth_server.client() as stolen:  # the old cookie, replayed
        stolen.cookies.set("assay_session", session)
        assert stolen.get("/api/v1/users/me").status_code == 401
    with rows.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(login_sessions)
                            ).scalar_one() == 0


# -- CSRF -------------------------------------------------------------------------------------

def test_a_form_post_needs_the_csrf_token(auth_server: AuthServer) -> None:
    with auth_server.client() as browser:
        browser.get("/login")  # the token's cookie
        refused = browser.post("/login", data={"username": "member", "password": PASSWORD})
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "CSRF_FAILED"
        forged = browser.post("/login", data={"username": "member", "password": PASSWORD,
                                              "csrf_token": "abc.def"})
        assert forged.status_code == 403
        assert "assay_session" not in browser.cookies
        assert _sign_in(auth_server, browser).status_code == 303


def test_the_token_of_another_browser_does_not_pass(auth_server: AuthServer) -> None:
    with auth_server.client() as attacker, auth_server.client() as victim:
        token = _csrf_token(attacker.get("/login"))
        victim.get("/login")
        response = victim.post("/login", data={"username": "member", "password": PASSWORD,
                                               "csrf_token": token})
        assert response.status_code == 403


def test_session_requests_need_the_csrf_header_but_key_requests_do_not(
        auth_server: AuthServer) -> None:
    with auth_server.client() as browser:
        assert _sign_in(auth_server, browser).status_code == 303
        token = _csrf_token(browser.get("/"))
        refused = browser.post("/api/v1/experiments", json={"name": "from-page"})
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "CSRF_FAILED"
        accepted = browser.post("/api/v1/experiments", json={"name": "from-page"},
                                headers={"X-CSRF-Token": token})
        assert accepted.status_code == 200, accepted.text
        assert browser.get("/api/v1/experiments").status_code == 200  # reads need none
    with auth_server.client("member") as sdk:
        assert sdk.post("/api/v1/experiments", json={"name": "from-sdk"}).status_code == 200
        form = sdk.post("/api/v1/experiments", data={"name": "as-form"})
        assert form.status_code == 403 and form.json()["error_code"] == "CSRF_FAILED"


def test_csrf_is_on_without_auth(sql_store: SqlStore) -> None:
    with in_process(sql_store) as served:
        browser = served.http
        page = browser.get("/login")
        assert "nothing to sign in to" in page.text
        # Pages put the token in their forms; it is also the cookie's value.
        token = browser.cookies["assay_csrf"]
        form = browser.post("/api/v1/experiments", data={"name": "x"})
        assert form.status_code == 403 and form.json()["error_code"] == "CSRF_FAILED"
        plain = browser.post("/api/v1/experiments", content=b'{"name": "x"}',
                             headers={"content-type": "text/plain"})
        assert plain.status_code == 403
        cross_site = browser.post("/api/v1/experiments", json={"name": "x"},
                                  headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.status_code == 403
        with_token = browser.post("/logout", data={"csrf_token": token})
        assert with_token.status_code == 303
        multipart = browser.post("/logout", files={"f": ("a.txt", b"x")},
                                 data={"csrf_token": token})
        assert multipart.status_code == 303
        # JSON and OTLP without auth need no token; nothing above was written.
        assert browser.post("/api/v1/experiments", json={"name": "y"}).status_code == 200
        assert browser.post("/v1/traces", content=_otlp_body(), headers={
            "content-type": "application/x-protobuf"}).status_code == 200
        assert browser.get("/api/v1/users/me").json() == {"auth_enabled": False,
                                                          "user": None}
    assert sql_store.find_experiment_by_name("x") is None


def test_csrf_tokens_are_bound_to_the_sign_in() -> None:
    signer = CsrfSigner(b"k" * 32)
    token = signer.new_token("session-a")
    assert signer.is_valid(token, "session-a")
    assert not signer.is_valid(token, "session-b")
    assert not signer.is_valid(token, "")
    assert not CsrfSigner(b"x" * 32).is_valid(token, "session-a")
    assert not signer.is_valid("no-dot", "session-a")
    assert signer.new_token("session-a") != token


def test_form_fields_of_every_form_content_type() -> None:
    assert form_field("application/x-www-form-urlencoded", b"a=1&csrf_token=t%2Bx",
                      "csrf_token") == "t+x"
    assert form_field("text/plain", b"a=1\r\ncsrf_token=tok\r\n", "csrf_token") == "tok"
    multipart = (b"--B\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n"
                 b"--B--\r\n")
    assert form_field("multipart/form-data; boundary=B", multipart, "csrf_token") == "tok"
    assert form_field("application/x-www-form-urlencoded", b"\xff\xfe", "csrf_token") is None
    assert form_field("multipart/form-data; boundary=B", b"garbage", "csrf_token") is None


def test_key_cache_expires_and_clears() -> None:
    now = [0.0]
    cache = ApiKeyCache(ttl_seconds=5, max_entries=3, clock=lambda: now[0])
    user = User("u", Role.MEMBER, 0)
    cache.put("assay_k_1", user)
    assert cache.get("assay_k_1") == user and cache.get("assay_k_2") is None
    now[0] = 5.0
    assert cache.get("assay_k_1") is None
    for i in range(10):
        cache.put(f"assay_k_{i}", user)
    assert cache.get("assay_k_9") == user and cache.get("assay_k_0") is None
    cache.clear()
    assert cache.get("assay_k_9") is None


def test_key_cache_never_outlives_the_key() -> None:
    now, wall = [0.0], [1_000.0]
    cache = ApiKeyCache(ttl_seconds=5, clock=lambda: now[0], wall_clock=lambda: wall[0])
    user = User("u", Role.MEMBER, 0)
    cache.put("assay_k_soon", user, expires_time_ms=1_000_800)  # expires in 0.8 s
    cache.put("assay_k_later", user, expires_time_ms=2_000_000)
    cache.put("assay_k_gone", user, expires_time_ms=999_000)  # expired already
    assert cache.get("assay_k_soon") == user and cache.get("assay_k_gone") is None
    now[0], wall[0] = 0.8, 1_000.8
    assert cache.get("assay_k_soon") is None
    assert cache.get("assay_k_later") == user  # the cache's own 5 s still hold
    now[0], wall[0] = 5.0, 1_005.0
    assert cache.get("assay_k_later") is None


def test_a_key_is_refused_as_soon_as_it_expires(auth_server: AuthServer) -> None:
    # The server has just verified (and remembered) the key; it must not trust it a moment
    # past its expiry, though its cache would keep it for KEY_CACHE_SECONDS. A second of
    # life, and a longer one when a loaded machine made the first request too late to tell.
    for seconds in (1, 3, 9):
        name = f"brief-{seconds}"
        _, token = auth_server.store.create_api_key("member", name,
                                                    expires_in=timedelta(seconds=seconds))
        [key] = [k for k in auth_server.store.list_api_keys("member") if k.name == name]
        assert key.expires_time_ms is not None
        with auth_server.client(headers={"Authorization": f"Bearer {token}"}) as http:
            accepted = http.get("/api/v1/experiments")
            if time.time() * 1000 >= key.expires_time_ms:
                continue  # answered after the expiry: it says nothing either way
            assert accepted.status_code == 200, accepted.text
            while time.time() * 1000 < key.expires_time_ms + 20:
                time.sleep(0.05)
            refused = http.get("/api/v1/experiments")
            assert refused.status_code == 401, refused.text
            assert "expired" in refused.json()["message"]
            return
    pytest.fail("the machine never answered a request within 9 s of making a key")
