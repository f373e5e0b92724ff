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
