"""The gold-label routes over HTTP with ``--auth``: who may adjudicate and read, what a
hostile body gets, and that a refused request writes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assay.entities.label_schema import InputPassFail, LabelSchema, LabelSchemaType
from assay.entities.labeling import GoldLabel, LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.store.sql import SqlStore
from factories import make_trace
from server.auth_servers import AuthServer, serve_with_auth


@pytest.fixture
def auth_server(sql_store: SqlStore) -> Iterator[AuthServer]:
    with serve_with_auth(sql_store) as server:
        yield server


def _session(store: SqlStore) -> tuple[str, str, str]:
    store.create_label_schema(LabelSchema("ok", LabelSchemaType.FEEDBACK, InputPassFail(),
                                          experiment_id="0"))
    info = store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id="0", name="s", label_schemas=("ok",),
        assigned_users=("reviewer",)))
    item, outside = make_trace(), make_trace()
    store.log_traces([item, outside])
    store.add_labeling_items(info.run_id, [item.info.trace_id])
    return info.run_id, item.info.trace_id, outside.info.trace_id


def test_a_reviewer_cannot_adjudicate_or_read_gold_labels(auth_server: AuthServer) -> None:
    run_id, item, _ = _session(auth_server.store)
    path = f"/api/v1/labeling-sessions/{run_id}/items/{item}/adjudication"
    with auth_server.client("reviewer") as http:
        refused = http.put(path, json={"schema_name": "ok", "value": True})
        assert refused.status_code == 403, refused.text
        assert http.get(f"/api/v1/labeling-sessions/{run_id}/gold").status_code == 403
        assert http.post("/api/v1/gold-labels/query",
                         json={"trace_ids": [item]}).status_code == 403
        # Their own answer is allowed, and is the gold label (one reviewer per item).
        assert http.post(f"/api/v1/labeling-sessions/{run_id}/items/{item}/answers",
                         json={"answers": {"ok": "Fail"}}).status_code == 200
    with auth_server.client("viewer") as http:
        assert http.put(path, json={"schema_name": "ok", "value": True}).status_code == 403
        assert http.get(f"/api/v1/labeling-sessions/{run_id}/gold").json() == {
            "gold_labels": {"ok": {item: {"value": False, "adjudicated": False}}}}
    assert auth_server.store.get_labeling_gold(run_id) == {"ok": {item: GoldLabel(False)}}


def test_a_member_adjudicates_as_themself(auth_server: AuthServer) -> None:
    run_id, item, _ = _session(auth_server.store)
    path = f"/api/v1/labeling-sessions/{run_id}/items/{item}/adjudication"
    with auth_server.client("member") as http:
        settled = http.put(path, json={"schema_name": "ok", "value": "Pass"})
        assert settled.status_code == 200, settled.text
        assert settled.json() == {"gold_label": {"value": True, "adjudicated": True}}
        found = http.post("/api/v1/gold-labels/query", json={"trace_ids": [item]})
        assert found.json() == {"gold_labels": {item: {"ok": True}}}
        cleared = http.put(path, json={"schema_name": "ok", "value": None})
        assert cleared.json() == {"gold_label": None}


@pytest.mark.parametrize(("body", "status", "names"), [
    ({"schema_name": "nope", "value": True}, 400, "schema_name"),
    ({"schema_name": "ok", "value": "Maybe"}, 400, "'ok'"),
    ({"schema_name": "ok", "value": {"deep": [1, 2]}}, 400, "'ok'"),
    ({"schema_name": "ok"}, 400, "value"),
    ({"value": True}, 400, "schema_name"),
    ({"schema_name": "", "value": True}, 400, "schema_name"),
    ({"schema_name": "ok", "value": True, "adjudicator": "x" * 251}, 400, "adjudicator"),
    ({"schema_name": "ok", "value": True, "extra": 1}, 400, "extra"),
])
def test_a_hostile_adjudication_is_a_4xx_naming_the_field_and_writes_nothing(
        auth_server: AuthServer, body: dict[str, object], status: int, names: str) -> None:
    run_id, item, _ = _session(auth_server.store)
    with auth_server.client("admin") as http:
        response = http.put(f"/api/v1/labeling-sessions/{run_id}/items/{item}/adjudication",
                            json=body)
    assert response.status_code == status, response.text
    assert names in response.json()["message"]
    assert auth_server.store.get_labeling_gold(run_id) == {}


def test_adjudicating_outside_the_session_is_not_found(auth_server: AuthServer) -> None:
    run_id, item, outside = _session(auth_server.store)
    body = {"schema_name": "ok", "value": True}
    with auth_server.client("admin") as http:
        response = http.put(f"/api/v1/labeling-sessions/{run_id}/items/{outside}/adjudication",
                            json=body)
        assert response.status_code == 404 and outside in response.json()["message"]
        auth_server.store.delete_labeling_session(run_id)
        response = http.put(f"/api/v1/labeling-sessions/{run_id}/items/{item}/adjudication",
                            json=body)
        assert response.status_code == 404 and run_id in response.json()["message"]
        assert http.get(f"/api/v1/labeling-sessions/{run_id}/gold").status_code == 404
        too_many = http.post("/api/v1/gold-labels/query",
                             json={"trace_ids": [item] * 10_001})
        assert too_many.status_code == 400 and "trace_ids" in too_many.json()["message"]


def test_only_writers_change_routing_rules_and_readers_list_them(
        auth_server: AuthServer) -> None:
    run_id, _, _ = _session(auth_server.store)
    rules = f"/api/v1/labeling-sessions/{run_id}/routing-rules"
    body = {"filter_string": "feedback.user_feedback = 'false'", "sample_rate": 0.5}
    with auth_server.client("reviewer") as http:
        assert http.post(rules, json=body).status_code == 403
        assert http.get(rules).status_code == 403
    with auth_server.client("member") as http:
        created = http.post(rules, json=body)
        assert created.status_code == 200, created.text
        rule = created.json()["routing_rule"]
        assert rule["created_by"] == "member" and rule["hit_count"] == 0
        for bad, field in [({**body, "sample_rate": 0}, "sample_rate"),
                           ({**body, "sample_rate": "1"}, "sample_rate"),
                           ({**body, "filter_string": "tags.x = "}, "position"),
                           ({**body, "filter_string": "x" * 10_001}, "filter_string"),
                           ({"sample_rate": 1}, "filter_string")]:
            refused = http.post(rules, json=bad)
            assert refused.status_code == 400 and field in refused.json()["message"], bad
    with auth_server.client("viewer") as http:
        assert [r["rule_id"] for r in http.get(rules).json()["routing_rules"]] == [
            rule["rule_id"]]
        assert http.delete(f"{rules}/{rule['rule_id']}").status_code == 403
    with auth_server.client("admin") as http:
        assert http.delete(f"{rules}/{rule['rule_id']}").status_code == 200
        assert http.delete(f"{rules}/{rule['rule_id']}").status_code == 404
    assert auth_server.store.list_routing_rules(run_id) == []
