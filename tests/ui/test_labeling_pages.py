"""The owner's labeling pages over HTTP, in process, on SQLite and PostgreSQL: the Labeling
tab (schemas and sessions, their forms), a session's page (progress, agreement as the SDK
computes it, disagreements, adjudication, routing rules), permissions, and hostile form
input refused at its field with nothing written."""

from __future__ import annotations

import dataclasses
import html
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from assay.genai.labeling import get_labeling_session
from assay.server.ui import labeling_session
from assay.store.sql import SqlStore
from review.review_data import ALICE, BOB, seed_review
from runtimes import default_runtime
from server.auth_servers import AuthServer, serve_with_auth
from server.live import Served
from ui.labeling_data import Disagreeing, seed_disagreement

HTML = {"Accept": "text/html"}


def _token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _error_at(page: httpx.Response, field: str) -> str:
    match = re.search(rf'data-field-error="{field}">([^<]*)<', page.text)
    assert match, f"no message at {field}"
    return html.unescape(match.group(1))


@pytest.fixture
def seeded(ui_server: Served) -> Disagreeing:
    return seed_disagreement(ui_server.store)


def _session_path(s: Disagreeing) -> str:
    return f"/experiments/{s.data.experiment_id}/labeling/sessions/{s.data.run_id}"


# -- the session page ------------------------------------------------------------------------

def test_session_page_shows_progress_and_the_sdks_agreement(ui_server: Served,
                                                             seeded: Disagreeing) -> None:
    body = ui_server.http.get(_session_path(seeded) + ".json").json()
    assert body["progress"]["num_items"] == 3 and body["progress"]["done_items"] == 3
    assert {r["reviewer"]: r["completed"] for r in body["progress"]["reviewers"]} == {
        ALICE: 3, BOB: 3}
    assert body["session"]["review_url"].endswith(f"/review/{seeded.data.run_id}")
    with default_runtime(ui_server.store.uri):
        expected = get_labeling_session(seeded.data.run_id).agreement()
    shown = {q["name"]: {s["key"]: s["value"] for s in q["agreement"]["stats"]}
             for q in body["questions"]}
    for name, agreement in expected.items():
        for key, value in shown[name].items():
            assert value == getattr(agreement, key), (name, key)
    assert shown["helpful"]["cohen_kappa"] == expected["helpful"].cohen_kappa
    assert "positive_agreement" in shown["helpful"]
    assert shown["expected_response"] == {}  # text: counted, not measured
    page = ui_server.http.get(_session_path(seeded), headers=HTML)
    assert page.status_code == 200
    kappa = expected["response_accuracy"].cohen_kappa
    assert kappa is not None
    assert f"{kappa:.3f}" in page.text and "Cohen&#39;s kappa" in page.text
    assert "too few" in page.text  # three items mean little
    assert f"/review/{seeded.data.run_id}" in page.text


def test_disagreements_list_each_reviewers_answer(ui_server: Served,
                                                  seeded: Disagreeing) -> None:
    body = ui_server.http.get(_session_path(seeded) + ".json").json()
    by_name = {q["name"]: q for q in body["questions"]}
    assert by_name["response_accuracy"]["num_disagreements"] == 1
    assert by_name["issues"]["num_disagreements"] == 0
    assert (body["num_disputed_items"], body["num_open_items"]) == (1, 1)
    (dispute,) = body["disputes"]
    assert dispute["trace_id"] == seeded.disputed
    assert dispute["request"] == "Does it trace LLM apps?"
    questions = {q["name"]: q for q in dispute["questions"]}
    assert list(questions) == ["response_accuracy", "helpful", "rating"]
    assert {a["reviewer"]: a["shown"] for a in questions["response_accuracy"]["answers"]} == {
        ALICE: "Accurate", BOB: "Inaccurate"}
    assert questions["response_accuracy"]["gold"] is None
    assert {a["shown"] for a in questions["helpful"]["answers"]} == {"Helpful", "Not helpful"}
    gold = {item["trace_id"]: item["gold"] for item in body["items"]}
    assert gold[seeded.data.trace_ids[0]]["response_accuracy"]["shown"] == "Accurate"
    assert gold[seeded.disputed]["response_accuracy"] is None
    assert gold[seeded.disputed]["issues"]["shown"] == "Tone"


def test_adjudication_by_pick_and_by_the_control(ui_server: Served,
                                                 seeded: Disagreeing) -> None:
    http, store, run = ui_server.http, ui_server.store, seeded.data.run_id
    token = _token(http.get(_session_path(seeded), headers=HTML))
    picked = http.post(_session_path(seeded) + "/adjudicate", data={
        "csrf_token": token, "trace_id": seeded.disputed, "schema": "response_accuracy",
        "pick": '"Inaccurate"'})
    assert picked.status_code == 303
    assert "Gold+label" in picked.headers["location"] or "Gold%20label" in picked.headers[
        "location"]
    written = http.post(_session_path(seeded) + "/adjudicate", data={
        "csrf_token": token, "trace_id": seeded.disputed, "schema": "rating", "a0": "3"})
    assert written.status_code == 303
    gold = store.get_labeling_gold(run)
    assert gold["response_accuracy"][seeded.disputed].value == "Inaccurate"
    assert gold["rating"][seeded.disputed].value == 3
    assert gold["rating"][seeded.disputed].adjudicated
    page = http.get(_session_path(seeded), headers=HTML)
    assert "Gold: Inaccurate (adjudicated)" in page.text
    cleared = http.post(_session_path(seeded) + "/adjudicate", data={
        "csrf_token": token, "trace_id": seeded.disputed, "schema": "rating", "clear": "1"})
    assert cleared.status_code == 303
    assert seeded.disputed not in store.get_labeling_gold(run).get("rating", {})


@pytest.mark.parametrize(("fields", "message"), [
    ({"schema": "rating", "a0": "11"}, "out of range"),
    ({"schema": "rating", "a0": "abc"}, "is not a number"),
    ({"schema": "rating"}, "Choose or write the final value"),
    ({"schema": "response_accuracy", "a0": "<script>x</script>"}, "is not one of the options"),
    ({"schema": "response_accuracy", "pick": '"Maybe"'}, "Invalid value 'Maybe'"),
    ({"schema": "response_accuracy", "pick": "{not json"}, "Invalid pick"),
])
def test_a_bad_adjudication_is_refused_at_its_field(ui_server: Served, seeded: Disagreeing,
                                                    fields: dict[str, str],
                                                    message: str) -> None:
    http = ui_server.http
    token = _token(http.get(_session_path(seeded), headers=HTML))
    refused = http.post(_session_path(seeded) + "/adjudicate", data={
        "csrf_token": token, "trace_id": seeded.disputed, **fields})
    assert refused.status_code == 400
    card = refused.text.split(f'data-trace="{seeded.disputed}" data-schema="{fields["schema"]}"'
                              )[1].split("</article>")[0]
    assert message in html.unescape(card)
    assert "<script>x" not in refused.text
    assert ui_server.store.get_labeling_gold(seeded.data.run_id).get(
        fields["schema"], {}).get(seeded.disputed) is None


def test_adjudication_refuses_what_is_not_the_sessions(ui_server: Served,
                                                       seeded: Disagreeing) -> None:
    http = ui_server.http
    token = _token(http.get(_session_path(seeded), headers=HTML))
    path = _session_path(seeded) + "/adjudicate"
    unknown = http.post(path, data={"csrf_token": token, "trace_id": seeded.disputed,
                                    "schema": "nope", "a0": "1"})
    assert unknown.status_code == 400 and "Invalid schema" in unknown.text
    garbled = http.post(path, data={"csrf_token": token, "trace_id": "<i>nope</i>",
                                    "schema": "helpful", "pick": "true"})
    assert garbled.status_code == 400
    assert "Invalid trace_id" in html.unescape(garbled.text) and "<i>nope" not in garbled.text
    outside = http.post(path, data={"csrf_token": token, "trace_id": seeded.data.other_trace_id,
                                    "schema": "helpful", "pick": "true"})
    assert outside.status_code == 404
    elsewhere = (f"/experiments/{seeded.data.experiment_id}999/labeling/sessions/"
                 f"{seeded.data.run_id}")
    assert http.get(elsewhere, headers=HTML).status_code == 404
    assert http.post(path, data={"trace_id": seeded.disputed, "schema": "helpful",
                                 "pick": "true"}).status_code == 403  # no CSRF token
    assert http.post(path, content=b"x", headers={
        "Content-Type": "text/plain", "X-CSRF-Token": token}).status_code in (400, 403)
    assert not ui_server.store.get_labeling_gold(seeded.data.run_id).get("helpful", {}).get(
        seeded.disputed)


def test_routing_rules_are_added_listed_and_deleted(ui_server: Served,
                                                    seeded: Disagreeing) -> None:
    http = ui_server.http
    path = _session_path(seeded)
    token = _token(http.get(path, headers=HTML))
    bad = http.post(path + "/rules", data={"csrf_token": token, "filter": "feedback.x ==="})
    assert bad.status_code == 400
    assert http.post(path + "/rules", data={"csrf_token": token, "filter": "tags.a = 'b'",
                                            "sample_percent": "0"}).status_code == 400
    assert not ui_server.store.list_routing_rules(seeded.data.run_id)
    added = http.post(path + "/rules", data={"csrf_token": token, "filter": "tags.env = 'prod'",
                                             "sample_percent": "50"})
    assert added.status_code == 303
    (rule,) = ui_server.store.list_routing_rules(seeded.data.run_id)
    assert rule.sample_rate == 0.5
    rules = http.get(path + ".json").json()["rules"]
    assert [(r["filter_string"], r["hit_count"]) for r in rules] == [("tags.env = 'prod'", 0)]
    gone = http.post(rules[0]["delete_url"], data={"csrf_token": token})
    assert gone.status_code == 303
    assert not ui_server.store.list_routing_rules(seeded.data.run_id)


# -- the Labeling tab ------------------------------------------------------------------------

def test_labeling_tab_lists_schemas_with_a_preview_and_sessions(ui_server: Served,
                                                                seeded: Disagreeing) -> None:
    http = ui_server.http
    eid = seeded.data.experiment_id
    page = http.get(f"/experiments/{eid}/labeling", headers=HTML)
    assert page.status_code == 200
    assert 'aria-current="page" class="active">Labeling' in page.text
    assert "Quickstart review" in page.text and "Secret session" in page.text
    body = http.get(f"/experiments/{eid}/labeling.json").json()
    assert [s["name"] for s in body["schemas"]][:2] == ["response_accuracy", "helpful"]
    helpful = next(s for s in body["schemas"] if s["name"] == "helpful")
    assert [o["label"] for o in helpful["preview"]["options"]] == ["Helpful", "Not helpful"]
    quick = next(s for s in body["sessions"] if s["name"] == "Quickstart review")
    assert (quick["num_items"], quick["done_items"]) == (3, 3)
    assert 'value="pass"' in page.text  # the pass/fail preview's control


@pytest.mark.parametrize(("kind", "fields", "stored"), [
    ("pass_fail", {"positive_label": "Yes", "negative_label": "No"},
     {"positive_label": "Yes", "negative_label": "No"}),
    ("categorical", {"options": "a\nb\n c ", "multi_select": "1"},
     {"options": ["a", "b", "c"], "multi_select": True}),
    ("categorical_list", {"options": "x\ny"}, {"options": ["x", "y"]}),
    ("numeric", {"min_value": "1", "max_value": "7.5"}, {"min_value": 1, "max_value": 7.5}),
    ("text", {"max_length": "200"}, {"max_length": 200}),
    ("text_list", {"max_count": "3", "max_length_each": "40"},
     {"max_count": 3, "max_length_each": 40}),
])
def test_every_input_kind_is_created_previewed_and_edited(
        ui_server: Served, seeded: Disagreeing, kind: str, fields: dict[str, str],
        stored: dict[str, object]) -> None:
    http, store = ui_server.http, ui_server.store
    eid = seeded.data.experiment_id
    base = f"/experiments/{eid}/labeling"
    token = _token(http.get(base, headers=HTML))
    form = {"csrf_token": token, "name": f"new_{kind}", "type": "feedback",
            "title": "A question?", "kind": kind, **fields}
    preview = http.post(base + "/schemas", data={**form, "preview": "1"})
    assert preview.status_code == 200 and "data-preview" in preview.text
    with pytest.raises(Exception, match="not found"):
        store.get_label_schema(experiment_id=eid, name=f"new_{kind}")
    created = http.post(base + "/schemas", data=form)
    assert created.status_code == 303, created.text[:2000]
    schema = store.get_label_schema(experiment_id=eid, name=f"new_{kind}")
    assert schema.input.kind == kind
    assert {k: v for k, v in schema.input.parameters().items() if k in stored} == stored
    edit = http.get(f"{base}/schemas/{schema.schema_id}", headers=HTML)
    assert edit.status_code == 200 and "data-preview" in edit.text
    saved = http.post(f"{base}/schemas/{schema.schema_id}",
                      data={**form, "title": "Changed?", "kind": kind})
    assert saved.status_code == 303
    assert store.get_label_schema(schema_id=schema.schema_id).title == "Changed?"


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": "", "kind": "text"}, "name", "Invalid name"),
    ({"name": "x", "kind": "categorical", "options": ""}, "options", "options"),
    ({"name": "x", "kind": "numeric", "min_value": "5", "max_value": "1"}, "max_value",
     "greater than min_value"),
    ({"name": "x", "kind": "numeric", "min_value": "abc"}, "min_value", "expected a number"),
    ({"name": "x", "kind": "text", "max_length": "-3"}, "max_length", "max_length"),
    ({"name": "x", "kind": "bogus"}, "kind", "Invalid kind"),
    ({"name": "helpful", "kind": "text"}, "form", "already exists"),
    ({"name": "x", "kind": "pass_fail", "positive_label": "Same", "negative_label": "Same"},
     "negative_label", "must differ"),
])
def test_a_bad_schema_form_is_refused_at_its_field(ui_server: Served, seeded: Disagreeing,
                                                   fields: dict[str, str], field: str,
                                                   message: str) -> None:
    http, store = ui_server.http, ui_server.store
    base = f"/experiments/{seeded.data.experiment_id}/labeling"
    token = _token(http.get(base, headers=HTML))
    before = len(list(store.list_label_schemas(seeded.data.experiment_id)))
    refused = http.post(base + "/schemas", data={"csrf_token": token, "type": "feedback",
                                                 **fields})
    assert refused.status_code == 400
    assert message in _error_at(refused, field)
    assert len(list(store.list_label_schemas(seeded.data.experiment_id))) == before


def test_a_schema_edit_with_answers_cannot_change_its_kind(ui_server: Served,
                                                           seeded: Disagreeing) -> None:
    http, store = ui_server.http, ui_server.store
    eid = seeded.data.experiment_id
    schema = store.get_label_schema(experiment_id=eid, name="rating")
    path = f"/experiments/{eid}/labeling/schemas/{schema.schema_id}"
    token = _token(http.get(path, headers=HTML))
    refused = http.post(path, data={"csrf_token": token, "name": "rating", "kind": "text"})
    assert refused.status_code == 400
    message = _error_at(refused, "kind")
    assert message.startswith("Invalid kind: label schema 'rating' has ") and \
        "they answer a numeric question, not a text one" in message
    assert store.get_label_schema(schema_id=schema.schema_id).input.kind == "numeric"


def test_sessions_are_created_from_the_tab(ui_server: Served, seeded: Disagreeing) -> None:
    http, store = ui_server.http, ui_server.store
    eid = seeded.data.experiment_id
    base = f"/experiments/{eid}/labeling"
    token = _token(http.get(base, headers=HTML))
    before = len(store.list_labeling_sessions([eid]))
    for fields, field in (
            ({"name": "", "schema": "helpful"}, "name"),
            ({"name": "S"}, "schema"),
            ({"name": "S", "schema": "nope"}, "schema"),
            ({"name": "S", "schema": "helpful", "reviewers_per_item": "x"},
             "reviewers_per_item"),
            ({"name": "S", "schema": "helpful", "reviewers_per_item": "3",
              "assigned_users": "a\nb"}, "reviewers_per_item"),
            ({"name": "S", "schema": "helpful", "assigned_users": " \n" + "x" * 300},
             "assigned_users")):
        refused = http.post(base + "/sessions", data={"csrf_token": token, **fields})
        assert refused.status_code == 400, fields
        _error_at(refused, field)
    assert len(store.list_labeling_sessions([eid])) == before
    created = http.post(base + "/sessions", data={
        "csrf_token": token, "name": "Second pass", "schema": ["rating", "helpful"],
        "assigned_users": "ann\nbo\n", "reviewers_per_item": "2",
        "instructions": "Be strict."})
    assert created.status_code == 303
    (made,) = [s for s in store.list_labeling_sessions([eid]) if s.name == "Second pass"]
    assert made.label_schemas == ("rating", "helpful")
    assert made.assigned_users == ("ann", "bo") and made.reviewers_per_item == 2
    assert created.headers["location"].startswith(f"{base}/sessions/{made.run_id}")


# -- permissions -----------------------------------------------------------------------------

@pytest.fixture
def auth(sql_store: SqlStore) -> Iterator[tuple[AuthServer, Disagreeing]]:
    seeded = seed_disagreement(sql_store)
    with serve_with_auth(sql_store) as server:
        yield server, seeded


def test_viewers_read_members_adjudicate_reviewers_are_kept_out(
        auth: tuple[AuthServer, Disagreeing]) -> None:
    server, seeded = auth
    path = _session_path(seeded)
    eid = seeded.data.experiment_id
    form = {"trace_id": seeded.disputed, "schema": "helpful", "pick": "true"}
    with server.client("reviewer") as http:
        for owned in (path, f"/experiments/{eid}/labeling", path + ".json"):
            assert http.get(owned, headers=HTML).status_code == 403, owned
    with server.client("viewer") as http:
        page = http.get(path, headers=HTML)
        assert page.status_code == 200
        form["csrf_token"] = _token(page)
        refused = http.post(path + "/adjudicate", data=form)
        assert refused.status_code == 403 and "CSRF" not in refused.text
        assert http.post(f"/experiments/{eid}/labeling/sessions", data={
            "csrf_token": form["csrf_token"], "name": "x",
            "schema": "helpful"}).status_code == 403
    assert seeded.disputed not in server.store.get_labeling_gold(
        seeded.data.run_id).get("helpful", {})
    with server.client("member") as http:
        form["csrf_token"] = _token(http.get(path, headers=HTML))
        done = http.post(path + "/adjudicate", data=form)
        assert done.status_code == 303, done.text[:300]
    gold = server.store.get_labeling_gold(seeded.data.run_id)["helpful"][seeded.disputed]
    assert gold.value is True and gold.adjudicated


def test_routes_declare_read_or_write(ui_server: Served) -> None:
    from assay.server import ServerSettings, create_app
    from assay.server.permissions import Action, declared_action

    app = create_app(ServerSettings(), ui_server.store)
    found = {(getattr(m, "path", ""), tuple(sorted(getattr(m, "methods", ()) or ()))):
             declared_action(m) for m in app.router.routes
             if getattr(m, "path", "").startswith("/experiments/")
             and "/labeling" in getattr(m, "path", "")}
    assert found
    for (path, methods), action in found.items():
        assert action is (Action.READ if methods == ("GET",) else Action.WRITE), path


# -- sending traces from the traces table ----------------------------------------------------

def test_traces_are_sent_from_the_table(ui_server: Served, seeded: Disagreeing) -> None:
    http, store = ui_server.http, ui_server.store
    eid, run_id = seeded.data.experiment_id, seeded.data.run_id
    table = http.get(f"/experiments/{eid}", headers=HTML)
    assert 'id="send-to-session"' in table.text and "Quickstart review" in table.text
    assert f'value="{seeded.data.other_trace_id}" form="send-to-session"' in table.text
    token = _token(table)
    before = store.get_labeling_progress(run_id).items
    sent = http.post(f"/experiments/{eid}/labeling/send", data={
        "csrf_token": token, "session": run_id, "scope": "selected",
        "trace_id": [seeded.data.other_trace_id, seeded.data.trace_ids[0]],
        "back": f"/experiments/{eid}?n=50"})
    assert sent.status_code == 303
    assert sent.headers["location"].startswith(f"/experiments/{eid}?n=50&flash=1+trace+added")
    assert store.get_labeling_progress(run_id).items == before + 1
    everything = http.post(f"/experiments/{eid}/labeling/send", data={
        "csrf_token": token, "session": run_id, "scope": "filter", "filter": "",
        "back": "https://evil.example/"})
    assert everything.status_code == 303
    assert everything.headers["location"].startswith(f"/experiments/{eid}?flash=")
    num_traces = store.get_experiment_stats([eid])[eid].num_traces
    assert store.get_labeling_progress(run_id).items == num_traces


@pytest.mark.parametrize(("fields", "message"), [
    ({"scope": "selected", "trace_id": "tr-" + "0" * 32}, "Invalid session"),
    ({"session": "RUN", "scope": "selected"}, "Invalid trace_id"),
    ({"session": "RUN", "scope": "selected", "trace_id": "<b>x</b>"}, "Invalid trace_id"),
    ({"session": "RUN", "scope": "everything"}, "Invalid scope"),
    ({"session": "RUN", "scope": "filter", "filter": "feedback.x ==="}, ""),
])
def test_a_bad_send_is_refused_and_adds_nothing(ui_server: Served, seeded: Disagreeing,
                                                fields: dict[str, str], message: str) -> None:
    http, store = ui_server.http, ui_server.store
    eid, run_id = seeded.data.experiment_id, seeded.data.run_id
    token = _token(http.get(f"/experiments/{eid}", headers=HTML))
    before = store.get_labeling_progress(run_id).items
    data = {k: (run_id if v == "RUN" else v) for k, v in fields.items()}
    refused = http.post(f"/experiments/{eid}/labeling/send", data={"csrf_token": token, **data})
    assert refused.status_code == 400
    assert message in html.unescape(refused.text)
    assert "<b>x</b>" not in refused.text
    assert store.get_labeling_progress(run_id).items == before


def test_the_trace_page_shows_its_labeling_state(ui_server: Served,
                                                 seeded: Disagreeing) -> None:
    http = ui_server.http
    first = seeded.data.trace_ids[0]
    body = http.get(f"/traces/{first}.json").json()["labeling"]
    assert [s["name"] for s in body["sessions"]] == ["Quickstart review"]
    assert body["sessions"][0]["reviewed_by"] == [ALICE, BOB]
    assert body["sessions"][0]["url"] == _session_path(seeded)
    assert body["gold"]["response_accuracy"] == "Accurate"
    assert body["gold"]["helpful"] == "true"
    page = http.get(f"/traces/{first}", headers=HTML)
    assert 'id="labeling-heading"' in page.text
    assert f'href="{_session_path(seeded)}"' in page.text
    # A trace in no session and without gold labels has no such panel.
    lone = next(t.info.trace_id for t in ui_server.store.search_traces(
        [seeded.data.experiment_id], max_results=50, include_spans=False)
        if t.info.trace_id not in (*seeded.data.trace_ids, seeded.data.other_trace_id))
    assert 'id="labeling-heading"' not in http.get(f"/traces/{lone}", headers=HTML).text


@pytest.mark.parametrize(("name", "fields", "field", "kept"), [
    ("response_accuracy", {"kind": "categorical", "options": "Accurate\nPartially accurate"},
     "options", "'Inaccurate'"),
    ("rating", {"kind": "numeric", "min_value": "1", "max_value": "4"}, "max_value", "above 4"),
    ("rating", {"kind": "numeric", "min_value": "3", "max_value": "5"}, "min_value", "below 3"),
    ("issues", {"kind": "categorical_list", "options": "Wrong facts\nMissing detail"},
     "options", "label schema 'issues' has 2 answers this change would make invalid: 'Tone' "
                "is no longer an option"),
    ("issues", {"kind": "categorical", "options": "Wrong facts\nMissing detail\nTone"},
     "kind", "they answer a categorical_list question"),
    ("expected_response", {"kind": "text", "max_length": "4"}, "max_length",
     "a text of 6 characters is longer than 4"),
    ("response_accuracy", {"kind": "categorical", "multi_select": "1",
                           "options": "Accurate\nPartially accurate\nInaccurate"},
     "multi_select", "label schema 'response_accuracy' has 6 answers this change would make "
                     "invalid: each holds one option (6 answers)"),
])
def test_a_schema_edit_that_would_leave_answers_invalid_is_refused(
        ui_server: Served, seeded: Disagreeing, name: str, fields: dict[str, str],
        field: str, kept: str) -> None:
    http, store = ui_server.http, ui_server.store
    eid = seeded.data.experiment_id
    schema = store.get_label_schema(experiment_id=eid, name=name)
    path = f"/experiments/{eid}/labeling/schemas/{schema.schema_id}"
    token = _token(http.get(path, headers=HTML))
    refused = http.post(path, data={"csrf_token": token, "name": name, **fields})
    assert refused.status_code == 400
    assert kept in _error_at(refused, field)
    assert store.get_label_schema(schema_id=schema.schema_id).input == schema.input


def test_a_schema_edit_that_keeps_answers_valid_is_saved(ui_server: Served,
                                                         seeded: Disagreeing) -> None:
    http, store = ui_server.http, ui_server.store
    eid = seeded.data.experiment_id
    schema = store.get_label_schema(experiment_id=eid, name="response_accuracy")
    path = f"/experiments/{eid}/labeling/schemas/{schema.schema_id}"
    token = _token(http.get(path, headers=HTML))
    saved = http.post(path, data={"csrf_token": token, "name": "response_accuracy",
                                  "kind": "categorical",
                                  "options": "Accurate\nInaccurate\nOff topic"})
    assert saved.status_code == 303
    assert store.get_label_schema(schema_id=schema.schema_id).input.parameters()[
        "options"] == ["Accurate", "Inaccurate", "Off topic"]


# -- a session at scale: the disputes paged, the figures kept between changes ----------------

def test_disagreements_are_paged_open_ones_first(ui_server: Served,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labeling_session, "DISPUTES_SHOWN", 2)
    http, store = ui_server.http, ui_server.store
    data = seed_review(store, num_items=5)
    assert len(data.trace_ids) == 5
    for number, trace_id in enumerate(data.trace_ids):
        store.submit_labeling_answers(data.run_id, trace_id, ALICE,
                                      {"response_accuracy": "Accurate"})
        store.submit_labeling_answers(data.run_id, trace_id, BOB, {
            "response_accuracy": "Inaccurate" if number % 2 == 0 else "Accurate"})
    disputed = data.trace_ids[0::2]
    store.adjudicate_labeling_item(data.run_id, disputed[0], "response_accuracy", "Accurate")
    path = f"/experiments/{data.experiment_id}/labeling/sessions/{data.run_id}"
    first = http.get(path + ".json").json()
    assert (first["num_disputed_items"], first["num_open_items"]) == (3, 2)
    assert [d["trace_id"] for d in first["disputes"]] == disputed[1:]
    assert all(d["is_open"] for d in first["disputes"])
    pager = first["disputes_pager"]
    assert (pager["number"], pager["last_page"], pager["first_row"], pager["last_row"]) == (
        1, 2, 1, 2)
    assert pager["prev_url"] is None and pager["next_url"].endswith("?disputes=2#disagreements")
    second = http.get(path + ".json", params={"disputes": "2"}).json()
    assert [d["trace_id"] for d in second["disputes"]] == [disputed[0]]
    assert not second["disputes"][0]["is_open"]  # the settled one comes last
    assert second["disputes_pager"]["next_url"] is None
    assert second["disputes_pager"]["prev_url"] == path + "#disagreements"
    beyond = http.get(path + ".json", params={"disputes": "9"}).json()
    assert beyond["disputes_pager"]["number"] == 2  # the last page
    assert http.get(path + ".json", params={"disputes": "0"}).status_code == 400
    assert http.get(path + ".json", params={"disputes": "x"}).status_code == 400
    page = http.get(path, params={"disputes": "2"}, headers=HTML)
    assert page.status_code == 200 and "data-disputes-pager" in page.text
    assert "3\u20133 shown" in page.text


def test_the_page_follows_every_change_of_the_answers(ui_server: Served,
                                                      seeded: Disagreeing) -> None:
    """The agreement and disagreements are kept between views, and recomputed after an
    answer, an override of an answer by the assessments API, an adjudication, and an item
    removed."""
    http, store, run = ui_server.http, ui_server.store, seeded.data.run_id
    path = _session_path(seeded)

    def view() -> tuple[int, float | None]:
        body = http.get(path + ".json").json()
        (accuracy,) = [q for q in body["questions"] if q["name"] == "response_accuracy"]
        stats = {s["key"]: s["value"] for s in accuracy["agreement"]["stats"]}
        return accuracy["num_disagreements"], stats.get("percent_agreement")

    assert view() == (1, 2 / 3)
    assert view() == (1, 2 / 3)  # kept
    (bobs,) = [a for a in store.get_trace(seeded.disputed).info.assessments
               if a.name == "response_accuracy" and a.source.source_id == BOB and a.valid]
    store.log_assessment(dataclasses.replace(
        bobs, value="Accurate", assessment_id=None, overrides=bobs.assessment_id))
    assert view() == (0, 1.0)
    store.submit_labeling_answers(run, seeded.disputed, BOB,
                                  {"response_accuracy": "Partially accurate"})
    assert view() == (1, 2 / 3)
    store.adjudicate_labeling_item(run, seeded.disputed, "response_accuracy", "Accurate")
    body = http.get(path + ".json").json()
    (accuracy,) = [q for q in body["questions"] if q["name"] == "response_accuracy"]
    assert accuracy["num_adjudicated"] == 1
    store.remove_labeling_items(run, [seeded.disputed])
    assert view() == (0, 1.0)


def test_a_slow_session_shows_its_last_figures_while_they_are_counted_again(
        ui_server: Served, seeded: Disagreeing, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``LIVE_ANSWERS`` (here: any), a changed session is shown at once with its last
    figures, said to be old, while a thread counts again; right after the owner's own change
    (the redirect with a flash message) the figures are current."""
    monkeypatch.setattr(labeling_session, "LIVE_ANSWERS", -1)
    monkeypatch.setattr(labeling_session, "REFRESH_SECONDS", 0.0)
    http, store, run = ui_server.http, ui_server.store, seeded.data.run_id
    path = _session_path(seeded)

    def view(query: str = "") -> tuple[bool, int]:
        body = http.get(path + ".json" + query).json()
        (accuracy,) = [q for q in body["questions"] if q["name"] == "response_accuracy"]
        return body["figures"]["stale"], accuracy["num_disagreements"]

    assert view() == (False, 1)  # nothing kept yet: counted now
    store.submit_labeling_answers(run, seeded.disputed, BOB, {"response_accuracy": "Accurate"})
    # The first view after the change: the last figures, while a thread counts.
    page = http.get(path, headers=HTML)
    assert "newer answers are being counted" in page.text
    assert page.text.count('data-dispute="') == 1
    deadline = 200
    while view() != (False, 0):  # the thread's figures arrive
        deadline -= 1
        assert deadline > 0, "the figures were not counted again"
        time.sleep(0.05)
    assert "newer answers are being counted" not in http.get(path, headers=HTML).text
    # After the owner's own change, current figures at once.
    store.submit_labeling_answers(run, seeded.disputed, BOB,
                                  {"response_accuracy": "Partially accurate"})
    assert view("?flash=done") == (False, 1)


def test_the_preview_shows_the_comment_box_reviewers_get(ui_server: Served,
                                                         seeded: Disagreeing) -> None:
    http = ui_server.http
    base = f"/experiments/{seeded.data.experiment_id}/labeling"
    token = _token(http.get(base, headers=HTML))
    form = {"csrf_token": token, "name": "why", "type": "feedback", "kind": "pass_fail",
            "positive_label": "Yes", "negative_label": "No", "preview": "1"}
    without = http.post(base + "/schemas", data=form)
    assert "data-preview" in without.text and "data-preview-comment" not in without.text
    with_box = http.post(base + "/schemas", data={**form, "enable_comment": "1"})
    assert "data-preview-comment" in with_box.text
