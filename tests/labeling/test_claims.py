"""Claims expire: an item a reviewer claimed and abandoned returns to the pool once its
claim runs out (the SQL functions, with the clock given, on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from assay.entities.label_schema import InputPassFail, LabelSchema, LabelSchemaType
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.store.sql import SqlStore
from assay.store.sql import labeling as sql_labeling
from assay.store.sql.dialect import Dialect
from assay.store.sql.engine import WRITE_OPTION, create_engine
from assay.store.sql.label_schemas import create_label_schema
from factories import make_trace

T0 = 1_800_000_000_000
MINUTE = 60_000


@pytest.fixture
def db(sql_store: SqlStore, database_uri: str) -> Iterator[tuple[sa.Engine, Dialect]]:
    engine, dialect = create_engine(database_uri)
    yield engine, dialect
    engine.dispose()


def write(engine: sa.Engine) -> sa.Connection:
    conn = engine.connect()
    conn.execution_options(**{WRITE_OPTION: True})
    return conn


def test_an_abandoned_claim_returns_to_the_pool(sql_store: SqlStore,
                                                db: tuple[sa.Engine, Dialect]) -> None:
    engine, dialect = db
    trace = make_trace()
    sql_store.log_traces([trace])
    trace_id = trace.info.trace_id
    run_id = new_run_id()
    with write(engine) as conn, conn.begin():
        create_label_schema(conn, LabelSchema("ok", LabelSchemaType.FEEDBACK, InputPassFail(),
                                              experiment_id="0"))
        sql_labeling.create_session(conn, LabelingSessionInfo(
            run_id=run_id, experiment_id="0", name="s", label_schemas=("ok",),
            assigned_users=("ana", "ben")))
        sql_labeling.add_items(conn, run_id, [trace_id])

    def next_for(reviewer: str, now_ms: int) -> str | None:
        with write(engine) as conn, conn.begin():
            return sql_labeling.next_item(conn, dialect, run_id, reviewer, now_ms=now_ms,
                                          claim_seconds=600)

    assert next_for("ana", T0) == trace_id
    assert next_for("ben", T0 + 9 * MINUTE) is None  # ana's claim still runs
    assert next_for("ben", T0 + 11 * MINUTE) == trace_id  # it ran out: ben gets the slot
    assert next_for("ana", T0 + 12 * MINUTE) is None  # and keeps it
    with engine.connect() as conn:
        progress = sql_labeling.progress(conn, run_id, now_ms=T0 + 12 * MINUTE)
    assert progress.reviewers["ben"].in_progress == 1
    assert progress.reviewers["ana"].in_progress == 0


def _session_of_two(sql_store: SqlStore, engine: sa.Engine, n: int = 2) -> tuple[str, list[str]]:
    traces = [make_trace() for _ in range(n)]
    sql_store.log_traces(traces)
    run_id = new_run_id()
    with write(engine) as conn, conn.begin():
        create_label_schema(conn, LabelSchema("ok", LabelSchemaType.FEEDBACK, InputPassFail(),
                                              experiment_id="0"))
        sql_labeling.create_session(conn, LabelingSessionInfo(
            run_id=run_id, experiment_id="0", name="s", label_schemas=("ok",),
            assigned_users=("ana", "ben"), reviewers_per_item=2))
        sql_labeling.add_items(conn, run_id, [t.info.trace_id for t in traces])
    return run_id, [t.info.trace_id for t in traces]


@pytest.mark.parametrize("state", ["completed", "skipped"])
def test_a_claim_never_turns_a_finished_review_back(sql_store: SqlStore,
                                                   db: tuple[sa.Engine, Dialect],
                                                   state: str) -> None:
    # What a reviewer's next_item does when it chose an item while the same reviewer's
    # answer (or skip) of it was being written: the claim's upsert finds the review done
    # and leaves it.
    engine, dialect = db
    run_id, (first, _) = _session_of_two(sql_store, engine)
    with write(engine) as conn, conn.begin():
        assert sql_labeling.next_item(conn, dialect, run_id, "ana", now_ms=T0) == first
        if state == "completed":
            sql_labeling.submit_answers(conn, dialect, run_id, first, "ana", {"ok": True},
                                        now_ms=T0 + 1)
        else:
            sql_labeling.skip_item(conn, dialect, run_id, first, "ana", now_ms=T0 + 1)
    with write(engine) as conn, conn.begin():
        claimed = conn.execute(sql_labeling._claim(dialect), {
            "run_id": run_id, "trace_id": first, "reviewer": "ana", "state": "in_progress",
            "claim_expires_ms": T0 + MINUTE, "updated_time_ms": T0 + 2}).first()
        assert claimed is None
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT state FROM labeling_reviews WHERE run_id = :r AND reviewer = 'ana'"),
            {"r": run_id}).scalar_one()
    assert stored == state


# PostgreSQL only: SQLite writes one transaction at a time, so there is nothing to overlap.
@pytest.mark.parametrize("database_uri", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_handing_out_items_does_not_wait_for_an_answer_being_written(
        sql_store: SqlStore, db: tuple[sa.Engine, Dialect]) -> None:
    engine, dialect = db
    run_id, (first, second) = _session_of_two(sql_store, engine)
    with write(engine) as conn, conn.begin():
        assert sql_labeling.next_item(conn, dialect, run_id, "ana", now_ms=T0) == first
    # Ana's answer is written and not yet committed: it holds the session's row.
    answering = write(engine)
    transaction = answering.begin()
    try:
        sql_labeling.submit_answers(answering, dialect, run_id, first, "ana", {"ok": True},
                                    now_ms=T0 + 1)
        # Ben gets an item meanwhile, without waiting for it (a wait would hit the timeout).
        with write(engine) as conn, conn.begin():
            conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            assert sql_labeling.next_item(conn, dialect, run_id, "ben", now_ms=T0 + 2) == first
        transaction.commit()
    finally:
        answering.close()
    # Both slots of the first item are taken (ana's answer, ben's claim): ana gets the second.
    with write(engine) as conn, conn.begin():
        assert sql_labeling.next_item(conn, dialect, run_id, "ana", now_ms=T0 + 3) == second
