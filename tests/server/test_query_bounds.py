"""Every search the server runs is bounded, on SQLite and PostgreSQL: regular expressions in
linear time, filters of bounded size, a statement timeout, queries cancelled when their client
goes, and no database detail in what a client sees."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from assay.errors import QueryTimeoutError
from assay.server import ServerSettings
from assay.store.rest import RestStore
from assay.store.sql import SqlStore
from factories import make_span, make_trace
from local_http import LOCAL_TLS
from server.live import LiveServer

SLOW_CLAUSES = 200


@pytest.fixture
def named_store(database_uri: str) -> Iterator[SqlStore]:
    """A SQL store whose PostgreSQL connections carry an application name of their own, so
    that the test finds its queries in pg_stat_activity among other clients'."""
    uri = database_uri
    if uri.startswith("postgresql"):
        uri += f"{'&' if '?' in uri else '?'}application_name=assay-bounds-{uuid.uuid4().hex[:8]}"
    store = SqlStore(uri)
    yield store
    store.close()


def _serve(store: SqlStore, statement_timeout: float = 30.0,
           graceful_seconds: int = 5) -> LiveServer:
    settings = ServerSettings(port=0, backend_store_uri=store.uri,
                              statement_timeout_seconds=statement_timeout)
    live = LiveServer(store, settings, graceful_seconds)
    live.start()
    return live


def _seed_slow(store: SqlStore) -> str:
    """An experiment whose spans hold 20 KB attributes: 200 regular-expression clauses over
    them take seconds on SQLite and over a minute on PostgreSQL."""
    experiment_id = store.create_experiment("slow")
    rng = random.Random(7)
    text = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(4000))
    traces = []
    for _ in range(80):
        trace = make_trace(experiment_id=experiment_id, num_spans=1)
        trace_id = trace.info.trace_id
        trace.data.spans[:] = [make_span(trace_id, name=f"s{j}", attributes={"big": text})
                               for j in range(10)]
        traces.append(trace)
    store.log_traces(traces)
    return experiment_id


def _slow_filter() -> str:
    return " OR ".join(f"span.attributes.big RLIKE 'zeta{i}[0-9]+x'"
                       for i in range(SLOW_CLAUSES))


def _search(experiment_id: str, filter_string: str) -> dict[str, object]:
    return {"experiment_ids": [experiment_id], "filter_string": filter_string,
            "max_results": 10, "include_spans": False}


def test_a_catastrophic_regex_answers_at_once_and_health_meanwhile(
        named_store: SqlStore) -> None:
    experiment_id = named_store.create_experiment("regex")
    trace = make_trace(experiment_id=experiment_id, num_spans=1)
    trace.data.spans[:] = [make_span(
        trace.info.trace_id, name="a" * 40 + "!",
        attributes={"question": "what is the capital of the country with the most lakes!"})]
    named_store.log_traces([trace])
    live = _serve(named_store)
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=10) as http:
            health: list[float] = []

            def ask_health() -> None:
                for _ in range(5):
                    started = time.perf_counter()
                    assert http.get("/health").status_code == 200
                    health.append(time.perf_counter() - started)

            checker = threading.Thread(target=ask_health)
            started = time.perf_counter()
            checker.start()
            # With a backtracking engine each of these runs for hours on these values.
            found = http.post("/api/v1/traces/search",
                              json=_search(experiment_id, "span.name RLIKE '^(a+)+$'"))
            page = http.get(f"/experiments/{experiment_id}", params={
                "filter": r"span.attributes.question RLIKE '^(\w+\s?)*$'"})
            checker.join(timeout=10)
            assert time.perf_counter() - started < 5
        assert found.status_code == 200 and found.json()["traces"] == []
        assert page.status_code == 200
        assert len(health) == 5 and max(health) < 2
    finally:
        live.stop()


def test_a_1_mb_filter_and_1000_clauses_are_400s_naming_the_limit_with_no_path(
        named_store: SqlStore, tmp_path: Path) -> None:
    experiment_id = named_store.create_experiment("big")
    live = _serve(named_store)
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=10) as http:
            huge = http.post("/api/v1/traces/search", json=_search(
                experiment_id, "tags.k = '" + "x" * (1 << 20) + "'"))
            many = http.post("/api/v1/traces/search", json=_search(
                experiment_id, " AND ".join(f"tags.k{i} = 'v'" for i in range(1000))))
    finally:
        live.stop()
    assert huge.status_code == 400, huge.text
    assert "too long" in huge.json()["message"]
    assert many.status_code == 400, many.text
    assert "limit of 200" in many.json()["message"]
    for answer in (huge, many):
        assert str(tmp_path) not in answer.text and "127.0.0.1" not in answer.text
        assert "sqlite" not in answer.text.lower() and "postgres" not in answer.text.lower()


def test_the_statement_timeout_stops_a_search_with_a_504_that_is_not_retried(
        named_store: SqlStore) -> None:
    experiment_id = _seed_slow(named_store)
    live = _serve(named_store, statement_timeout=0.25)
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30) as http:
            started = time.perf_counter()
            answer = http.post("/api/v1/traces/search",
                               json=_search(experiment_id, _slow_filter()))
            took = time.perf_counter() - started
            assert http.get("/health").status_code == 200
        assert answer.status_code == 504, answer.text
        assert answer.json()["error_code"] == "QUERY_TIMEOUT"
        assert "statement timeout (0.25 s)" in answer.json()["message"]
        assert took < 5
        # The SDK over HTTP raises it at once instead of trying again for half a minute.
        rest = RestStore(live.url)
        try:
            started = time.perf_counter()
            with pytest.raises(QueryTimeoutError, match="statement timeout"):
                rest.search_traces([experiment_id], filter_string=_slow_filter())
            assert time.perf_counter() - started < 5
        finally:
            rest.close()
    finally:
        live.stop()


def _active_queries(store: SqlStore) -> list[str]:
    """The queries the store's connections are running, as PostgreSQL reports them."""
    import psycopg

    name = store._engine.url.query["application_name"]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test") as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s "
            "AND state = 'active'", (name,)).fetchall()
    return [row[0] for row in rows]


def _wait_for(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("database_uri", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_disconnected_clients_query_is_cancelled_on_postgresql(
        named_store: SqlStore) -> None:
    experiment_id = _seed_slow(named_store)
    live = _serve(named_store, statement_timeout=120)
    seen: list[str] = []

    def saw_queries() -> bool:
        # Until the search's own query is seen (a shorter one may come first).
        seen.extend(_active_queries(named_store))
        return any("spans" in query for query in seen)

    watcher = threading.Thread(target=_wait_for, args=(saw_queries, 10))
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=2) as http:
            started = time.perf_counter()
            watcher.start()
            with pytest.raises(httpx.ReadTimeout):  # the client gives up and hangs up
                http.post("/api/v1/traces/search",
                          json=_search(experiment_id, _slow_filter()))
            watcher.join()
        # The search (which runs for over a minute unless cancelled) was running...
        assert any("spans" in query for query in seen)
        # ...and stops within moments of the client's going.
        assert _wait_for(lambda: not _active_queries(named_store), timeout=5)
        assert time.perf_counter() - started < 10
    finally:
        live.stop()


@pytest.mark.parametrize("database_uri", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_stopping_server_cancels_its_queries_on_postgresql(named_store: SqlStore) -> None:
    experiment_id = _seed_slow(named_store)
    live = _serve(named_store, statement_timeout=120, graceful_seconds=1)
    answers: list[int] = []

    def search() -> None:
        try:
            with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=60) as http:
                answers.append(http.post("/api/v1/traces/search", json=_search(
                    experiment_id, _slow_filter())).status_code)
        except httpx.HTTPError:
            answers.append(0)

    client = threading.Thread(target=search)
    client.start()
    try:
        assert _wait_for(lambda: _active_queries(named_store), timeout=10)
    finally:
        live.stop()  # graceful for 1 s, then requests in flight are cancelled
    client.join(timeout=30)
    assert _wait_for(lambda: not _active_queries(named_store), timeout=5)


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
def test_an_unavailable_database_is_a_503_with_no_path(named_store: SqlStore,
                                                       tmp_path: Path) -> None:
    experiment_id = named_store.create_experiment("gone")
    # The database goes before the server starts: the server's first sweep of pending
    # feedback runs in the background as it starts, and a connection it opened between the
    # pool's closing and the file's removal would still read the removed file.
    database = Path(named_store._engine.url.database or "")
    named_store._engine.dispose()
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
    database.mkdir()  # the file cannot be opened any more
    live = _serve(named_store)
    try:
        with httpx.Client(base_url=live.url, verify=LOCAL_TLS, timeout=30) as http:
            answer = http.post("/api/v1/traces/search",
                               json=_search(experiment_id, "trace.status = 'OK'"))
    finally:
        live.stop()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    for secret in (str(tmp_path), "127.0.0.1", "5432", "port 1", "sqlite", "postgres"):
        assert secret not in answer.text.lower(), answer.text


def test_the_statement_timeout_is_a_setting_with_a_flag_and_an_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.cli import build_parser
    from assay.errors import InvalidParameterError

    args = build_parser().parse_args(["server", "--statement-timeout", "2.5"])
    assert args.statement_timeout == 2.5
    settings = ServerSettings(statement_timeout_seconds=2.5).check()
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert ServerSettings.from_env().statement_timeout_seconds == 2.5
    assert ServerSettings().statement_timeout_seconds == 30.0
    for bad in (0, -1, float("nan"), 10**6):
        with pytest.raises(InvalidParameterError, match="statement_timeout_seconds"):
            ServerSettings(statement_timeout_seconds=bad).check()
