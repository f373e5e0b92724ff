"""Browser feedback with tokens, over HTTP (SQLite and PostgreSQL): issuing them, voting at
/api/v1/feedback with no API key, a second vote replacing the first, votes before the trace,
refused tokens, the per-token rate limit and CORS."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from assay.entities import AssessmentSource, AssessmentSourceType, Feedback
from assay.entities._time import now_ms
from assay.errors import InvalidParameterError
from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE, issue_token, verify_token
from assay.server import ServerSettings
from assay.store.sql import SqlStore
from conftest import Backend
from factories import make_trace, new_trace_id
from runtimes import default_runtime
from server.feedback_helpers import post_otlp, recorded_spans, serving, stats, trace_id_of
from server.live import Served

APP = "https://app.example.com"
EVIL = "https://evil.example.com"


def issue(served: Served, trace_id: str, **body: Any) -> str:
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback-tokens", json=body)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def vote(served: Served, token: str, name: str = "thumbs", value: Any = True,
         headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    return served.http.post("/api/v1/feedback", headers=headers,
                            json={"token": token, "name": name, "value": value, **extra})


def stored_trace(served: Served) -> str:
    trace = make_trace()
    served.store.log_traces([trace])
    return trace.info.trace_id


def test_issue_a_token_and_vote_with_it(served: Served) -> None:
    trace_id = stored_trace(served)
    response = served.http.post(f"/api/v1/traces/{trace_id}/feedback-tokens", json={
        "names": ["thumbs", "comment"], "end_user_id": "user-1", "expires_in": 600})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    claims = verify_token(served.store.signing_key(FEEDBACK_TOKEN_PURPOSE), token)
    assert response.json()["expires_at_ms"] == claims.expires_at_ms
    assert (claims.trace_id, claims.names, claims.end_user_id, claims.experiment_id) == (
        trace_id, ("thumbs", "comment"), "user-1", "0")

    voted = vote(served, token, rationale="spot on", metadata={"page": "chat"})
    assert voted.status_code == 201, voted.text
    assert voted.json()["pending"] is False and voted.json()["trace_id"] == trace_id
    (stored,) = served.store.get_trace(trace_id).info.assessments
    assert stored.assessment_id == voted.json()["assessment_id"]
    assert (stored.name, stored.value, stored.rationale) == ("thumbs", True, "spot on")
    assert stored.source == AssessmentSource(AssessmentSourceType.HUMAN, "user-1")
    assert stored.metadata == {"page": "chat"}
    assert stats(served)["feedback_tokens_accepted"] == 1


def test_a_second_vote_replaces_the_first_and_keeps_history(served: Served) -> None:
    trace_id = stored_trace(served)
    alice = issue(served, trace_id, end_user_id="alice")
    alice_again = issue(served, trace_id, end_user_id="alice")  # a reload of the page
    bob = issue(served, trace_id, end_user_id="bob")
    first = vote(served, alice, value=True).json()
    other = vote(served, bob, value=True).json()
    comment = vote(served, alice, name="comment", value="meh").json()
    second = vote(served, alice_again, value=False).json()
    assert second["overrides"] == first["assessment_id"]
    third = vote(served, alice, value=3).json()  # a new type is fine
    assert third["overrides"] == second["assessment_id"]

    stored = {a.assessment_id: a for a in served.store.get_trace(trace_id).info.assessments}
    assert len(stored) == 5
    assert [stored[v["assessment_id"]].valid for v in (first, second, third)] == [
        False, False, True]
    assert stored[third["assessment_id"]].value == 3
    assert stored[other["assessment_id"]].valid and stored[comment["assessment_id"]].valid


def test_a_token_without_end_user_is_one_voter(served: Served) -> None:
    trace_id = stored_trace(served)
    token = issue(served, trace_id)
    other_token = issue(served, trace_id)
    first = vote(served, token).json()
    second = vote(served, token, value=False).json()
    separate = vote(served, other_token).json()
    assert second["overrides"] == first["assessment_id"]
    assert separate["overrides"] is None
    stored = {a.assessment_id: a for a in served.store.get_trace(trace_id).info.assessments}
    source_id = stored[first["assessment_id"]].source.source_id or ""
    assert source_id.startswith("token:")
    assert stored[separate["assessment_id"]].source.source_id != source_id


def test_votes_before_the_trace_are_kept_and_the_last_one_wins(served: Served) -> None:
    spans = recorded_spans()
    trace_id = trace_id_of(spans)
    token = issue(served, trace_id, names=["thumbs"], end_user_id="carol")
    first = vote(served, token, value=True)
    second = vote(served, token, value=False)
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert second.json()["pending"] is True
    assert second.json()["overrides"] == first.json()["assessment_id"]

    post_otlp(served, spans)

    stored = {a.assessment_id: a for a in served.store.get_trace(trace_id).info.assessments}
    old, new = stored[first.json()["assessment_id"]], stored[second.json()["assessment_id"]]
    assert (old.valid, new.valid, new.value, new.overrides) == (
        False, True, False, old.assessment_id)
    # After the trace came, the next vote replaces the stored one.
    third = vote(served, token, value=True)
    assert third.status_code == 201 and third.json()["overrides"] == new.assessment_id


def test_a_name_the_token_does_not_allow_is_400(served: Served) -> None:
    trace_id = stored_trace(served)
    token = issue(served, trace_id, names=["thumbs"])
    response = vote(served, token, name="stars", value=5)
    assert response.status_code == 400, response.text
    assert "stars" in response.json()["message"] and "thumbs" in response.json()["message"]
    assert served.store.get_trace(trace_id).info.assessments == []


@pytest.mark.parametrize("value", [None, [1, 2], {"a": 1}])
def test_a_value_that_is_not_a_vote_is_400(served: Served, value: Any) -> None:
    trace_id = stored_trace(served)
    response = vote(served, issue(served, trace_id), value=value)
    assert response.status_code == 400, response.text
    assert "value" in response.json()["message"]
    assert served.store.get_trace(trace_id).info.assessments == []


def test_an_expired_token_is_401(served: Served) -> None:
    trace_id = stored_trace(served)
    key = served.store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    token = issue_token(key, trace_id, expires_in=60, now=now_ms() - 120_000)
    response = vote(served, token)
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert "Expired" in response.json()["message"]
    assert served.store.get_trace(trace_id).info.assessments == []
    assert stats(served)["feedback_tokens_refused"] == 1


def _flip(token: str, part: int) -> str:
    pieces = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(pieces)


def test_tampered_and_malformed_tokens_are_401_naming_which(served: Served) -> None:
    trace_id = stored_trace(served)
    token = issue(served, trace_id, end_user_id="dave")
    other_server_key = bytes(32)
    for bad, words in ((_flip(token, 1), "signature"), (_flip(token, 2), "signature"),
                       (issue_token(other_server_key, trace_id), "signature"),
                       ("garbage", "Malformed"), (token[:-3], "signature")):
        response = vote(served, bad)
        assert response.status_code == 401, response.text
        assert words in response.json()["message"]
        assert "dave" not in response.text
    assert served.store.get_trace(trace_id).info.assessments == []
    assert stats(served)["feedback_tokens_refused"] == 5


def test_a_token_for_another_trace_cannot_vote_there(served: Served) -> None:
    trace_id = stored_trace(served)
    elsewhere = stored_trace(served)
    token = issue(served, trace_id)
    response = vote(served, token, trace_id=elsewhere)
    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert served.store.get_trace(elsewhere).info.assessments == []
    assert served.store.get_trace(trace_id).info.assessments == []
    # A token naming the experiment refuses a trace stored in another one.
    moved = make_trace(experiment_id=served.store.create_experiment("other"))
    served.store.log_traces([moved])
    key = served.store.signing_key(FEEDBACK_TOKEN_PURPOSE)
    forged_scope = issue_token(key, moved.info.trace_id, experiment_id="0")
    assert vote(served, forged_scope).status_code == 403
    assert served.store.get_trace(moved.info.trace_id).info.assessments == []


@pytest.mark.parametrize("body, field", [
    ({"names": []}, "names"), ({"names": "thumbs"}, "names"), ({"names": [""]}, "names"),
    ({"expires_in": 0}, "expires_in"), ({"expires_in": 31 * 86400}, "expires_in"),
    ({"end_user_id": ""}, "end_user_id"), ({"surprise": 1}, "surprise"),
])
def test_bad_token_requests_are_400(served: Served, body: dict[str, Any], field: str) -> None:
    response = served.http.post(f"/api/v1/traces/{new_trace_id()}/feedback-tokens", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_a_token_for_a_malformed_trace_id_is_400(served: Served) -> None:
    response = served.http.post("/api/v1/traces/tr-nope/feedback-tokens", json={})
    assert response.status_code == 400, response.text
    assert "trace_id" in response.json()["message"]


def test_the_rate_limit_is_per_token(sql_store: SqlStore) -> None:
    with serving(sql_store, feedback_rate_limit_per_minute=2) as served:
        trace_id = stored_trace(served)
        token = issue(served, trace_id, end_user_id="erin")
        assert [vote(served, token).status_code for _ in range(2)] == [201, 201]
        refused = vote(served, token)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert int(refused.headers["Retry-After"]) >= 1
        assert vote(served, issue(served, trace_id)).status_code == 201
        assert stats(served)["feedback_rate_limited"] == 1
    assert len(sql_store.get_trace(trace_id).info.assessments) == 3


def test_cors_preflight_and_votes_from_an_allowed_origin(sql_store: SqlStore) -> None:
    with serving(sql_store, cors_origins=(APP,)) as served:
        trace_id = stored_trace(served)
        token = issue(served, trace_id)
        preflight = served.http.options("/api/v1/feedback", headers={
            "Origin": APP, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers
        assert "Origin" in preflight.headers["vary"]

        # As a browser sends it from the app's page: cross-site, which needs no CSRF token
        # here (the token in the body is the credential).
        voted = vote(served, token, headers={"Origin": APP, "Sec-Fetch-Site": "cross-site"})
        assert voted.status_code == 201, voted.text
        assert voted.headers["access-control-allow-origin"] == APP
        assert "access-control-allow-credentials" not in voted.headers
        # An error answer carries the header too, so the page can read it.
        refused = vote(served, "garbage", headers={"Origin": APP})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == APP


def test_cors_refuses_other_origins(sql_store: SqlStore) -> None:
    with serving(sql_store, cors_origins=(APP,)) as served:
        trace_id = stored_trace(served)
        token = issue(served, trace_id)
        preflight = served.http.options("/api/v1/feedback", headers={
            "Origin": EVIL, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 403, preflight.text
        assert "access-control-allow-origin" not in preflight.headers
        assert EVIL in preflight.json()["message"]
        for method, headers in (("PUT", "content-type"), ("POST", "x-secret")):
            odd = served.http.options("/api/v1/feedback", headers={
                "Origin": APP, "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers})
            assert odd.status_code == 400, odd.text
        voted = vote(served, token, headers={"Origin": EVIL})
        assert voted.status_code == 403, voted.text
        assert "access-control-allow-origin" not in voted.headers
        assert served.store.get_trace(trace_id).info.assessments == []
        # The server's own pages (same origin) and callers without an Origin may vote.
        assert vote(served, token, headers={"Origin": served.url}).status_code == 201
        assert vote(served, token).status_code == 201
        # CORS is for this path only.
        other = served.http.get("/api/v1/server/stats", headers={"Origin": APP})
        assert "access-control-allow-origin" not in other.headers


def test_without_cors_origins_only_the_same_origin_may_vote(served: Served) -> None:
    trace_id = stored_trace(served)
    token = issue(served, trace_id)
    assert vote(served, token, headers={"Origin": APP}).status_code == 403
    assert vote(served, token, headers={"Origin": served.url}).status_code == 201


def test_cors_any_origin_answers_star_without_credentials(sql_store: SqlStore) -> None:
    with serving(sql_store, cors_origins=("*",)) as served:
        token = issue(served, stored_trace(served))
        voted = vote(served, token, headers={"Origin": EVIL})
        assert voted.status_code == 201, voted.text
        assert voted.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in voted.headers


def test_votes_need_no_api_key_when_auth_is_on(sql_store: SqlStore) -> None:
    sql_store.create_user("admin", "admin")
    _, key = sql_store.create_api_key("admin", "backend")
    trace_id = stored_trace_in(sql_store)
    with serving(sql_store, auth=True) as served:
        assert served.http.post(f"/api/v1/traces/{trace_id}/feedback-tokens",
                                json={}).status_code == 401
        issued = served.http.post(f"/api/v1/traces/{trace_id}/feedback-tokens", json={},
                                  headers={"Authorization": f"Bearer {key}"})
        assert issued.status_code == 200, issued.text
        voted = vote(served, issued.json()["token"])
        assert voted.status_code == 201, voted.text
    assert len(sql_store.get_trace(trace_id).info.assessments) == 1


def stored_trace_in(store: SqlStore) -> str:
    trace = make_trace()
    store.log_traces([trace])
    return trace.info.trace_id


def test_feedback_settings_are_checked_and_reach_worker_processes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (ServerSettings(cors_origins=("https://app.example.com/",)),
                ServerSettings(cors_origins=("app.example.com",)),
                ServerSettings(cors_origins=("ftp://x.example",)),
                ServerSettings(pending_feedback_ttl_seconds=0),
                ServerSettings(pending_feedback_ttl_seconds=31 * 86400),
                ServerSettings(feedback_rate_limit_per_minute=0)):
        with pytest.raises(InvalidParameterError):
            bad.check()
    settings = ServerSettings(cors_origins=(APP, "http://localhost:3000"),
                              pending_feedback_ttl_seconds=600,
                              feedback_rate_limit_per_minute=5).check()
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    assert ServerSettings.from_env() == settings


def test_cli_flags_for_feedback() -> None:
    from assay.cli import build_parser

    args = build_parser().parse_args([
        "server", "--cors-origin", APP, "--cors-origin", "http://localhost:3000",
        "--pending-feedback-ttl", "600", "--feedback-rate-limit", "5"])
    assert (args.cors_origin, args.pending_feedback_ttl, args.feedback_rate_limit) == (
        [APP, "http://localhost:3000"], 600, 5)
    defaults = build_parser().parse_args(["server"])
    assert (defaults.cors_origin, defaults.pending_feedback_ttl,
            defaults.feedback_rate_limit) == ([], 86_400, 30)


def test_client_and_module_issue_tokens_on_every_backend(backend: Backend) -> None:
    # SQLite and PostgreSQL sign with the key in the database; through a server (the REST
    # store), the server signs, with the key in its database.
    import assay

    server_database = SqlStore(backend.database_uri)
    try:
        key = server_database.signing_key(FEEDBACK_TOKEN_PURPOSE)
    finally:
        server_database.close()
    with default_runtime(backend.tracking_uri):
        trace_id = new_trace_id()
        token = assay.AssayClient().create_feedback_token(
            trace_id, names=["thumbs"], end_user_id="u9", expires_in=120)
        claims = verify_token(key, token)
        assert (claims.trace_id, claims.names, claims.end_user_id) == (
            trace_id, ("thumbs",), "u9")
        assert 119_000 <= claims.expires_at_ms - now_ms() <= 120_000
        with pytest.raises(InvalidParameterError, match="expires_in"):
            assay.AssayClient().create_feedback_token(trace_id, expires_in=0)

        @assay.trace
        def answer() -> str:
            # The usual place: while the request is served, before its trace is written.
            return assay.create_feedback_token(assay.get_active_trace_id() or "",
                                               end_user_id="u10")

        claims = verify_token(key, answer())
        assert claims.trace_id == assay.get_last_active_trace_id()
        assert claims.end_user_id == "u10" and claims.names is None


def test_a_vote_replaces_the_same_end_users_feedback_logged_by_the_app(
        served: Served) -> None:
    # A vote is a HUMAN feedback with the end user's id as source: one the app logged itself
    # with the same name and source is that end user's earlier vote.
    trace_id = stored_trace(served)
    frank = AssessmentSource(AssessmentSourceType.HUMAN, "frank")
    logged = served.store.log_assessment(Feedback("thumbs", True, trace_id=trace_id,
                                                  source=frank))
    token = issue(served, trace_id, end_user_id="frank")
    assert vote(served, token, value=False).json()["overrides"] == logged.assessment_id
