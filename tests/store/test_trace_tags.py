"""Tags of stored traces, on SQLite and PostgreSQL: set, overwrite, truncate and delete."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from assay.errors import InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from assay.store.sql.schema import traces
from factories import make_trace, new_trace_id


def test_set_and_overwrite_a_tag(store: SqlStore) -> None:
    trace = make_trace()
    store.log_traces([trace])
    store.set_trace_tag(trace.info.trace_id, "reviewed", "no")
    store.set_trace_tag(trace.info.trace_id, "reviewed", "yes")
    assert store.get_trace_info(trace.info.trace_id).tags == {
        "mlflow.traceName": "root", "reviewed": "yes"}


def test_setting_the_trace_name_tag_renames_the_trace(store: SqlStore, db: sa.Engine) -> None:
    trace = make_trace(name="before")
    store.log_traces([trace])
    store.set_trace_tag(trace.info.trace_id, "mlflow.traceName", "after")
    assert store.get_trace_info(trace.info.trace_id).name == "after"
    with db.connect() as conn:
        assert conn.execute(sa.select(traces.c.name).where(
            traces.c.trace_id == trace.info.trace_id)).scalar_one() == "after"
    store.delete_trace_tag(trace.info.trace_id, "mlflow.traceName")
    with db.connect() as conn:
        assert conn.execute(sa.select(traces.c.name).where(
            traces.c.trace_id == trace.info.trace_id)).scalar_one() is None


def test_long_tag_values_are_truncated(store: SqlStore) -> None:
    trace = make_trace(tags={"logged": "L" * 5000})
    store.log_traces([trace])
    store.set_trace_tag(trace.info.trace_id, "exact", "e" * 4096)
    store.set_trace_tag(trace.info.trace_id, "long", "x" * 10_000)
    tags = store.get_trace_info(trace.info.trace_id).tags
    assert tags["exact"] == "e" * 4096
    assert tags["long"] == "x" * 4093 + "..."
    assert tags["logged"] == "L" * 4093 + "..."


def test_tag_key_limits(store: SqlStore) -> None:
    trace = make_trace()
    store.log_traces([trace])
    store.set_trace_tag(trace.info.trace_id, "k" * 250, "ok")
    assert store.get_trace_info(trace.info.trace_id).tags["k" * 250] == "ok"
    with pytest.raises(InvalidParameterError, match="251 characters long; the limit is 250"):
        store.set_trace_tag(trace.info.trace_id, "k" * 251, "v")
    with pytest.raises(InvalidParameterError, match="must not be empty"):
        store.set_trace_tag(trace.info.trace_id, "", "v")
    with pytest.raises(InvalidParameterError, match="expected a string, got int"):
        store.set_trace_tag(trace.info.trace_id, "n", 5)  # type: ignore[arg-type]


def test_tags_on_unknown_traces_name_the_id(store: SqlStore) -> None:
    trace_id = new_trace_id()
    with pytest.raises(NotFoundError, match=f"Trace with ID '{trace_id}' not found"):
        store.set_trace_tag(trace_id, "k", "v")
    with pytest.raises(NotFoundError, match=f"Trace with ID '{trace_id}' not found"):
        store.delete_trace_tag(trace_id, "k")


def test_delete_a_tag(store: SqlStore) -> None:
    trace = make_trace(tags={"gone": "soon", "kept": "yes"})
    store.log_traces([trace])
    store.delete_trace_tag(trace.info.trace_id, "gone")
    assert store.get_trace_info(trace.info.trace_id).tags == {
        "mlflow.traceName": "root", "kept": "yes"}
    with pytest.raises(NotFoundError, match="No tag with key 'gone'"):
        store.delete_trace_tag(trace.info.trace_id, "gone")
