"""Assessments in the SQL store: log, read, update, override and delete feedback and expectations.

Rules (MLflow's, with its sharp edges fixed; written once in :mod:`assay.rules`):

* Overriding keeps history: the new assessment names the one it supersedes in ``overrides``
  and that one becomes ``valid = false``, in the same transaction. Chains stay linear: an
  override of an assessment that was already overridden supersedes the newest one of its
  chain (``rules.newest_of_chain``, walked here with each row locked), so exactly one
  assessment of a chain is valid.
* Deleting an assessment splices it out of its chain: what overrode it now overrides what it
  overrode, and an assessment nothing overrides any more is valid again (undo;
  ``rules.spliced_out``, done here in three statements).
* An assessment whose metadata names a session (``mlflow.trace.session``) is session-level:
  it is stored on one trace of that session (its anchor) and read with every trace of the
  session in the same experiment.
* An optional idempotency key makes a retried log store one assessment, not two.

Reads of a page of traces load all their assessments (invalid ones included) with one query
for the traces and one for their sessions. Functions take an open Connection; the caller
owns the transaction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay.entities import Trace, TraceData, TraceInfo
from assay.entities._checks import check_key
from assay.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
    encode_value,
    new_assessment_id,
    numeric_value,
)
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.rules import newest_of_chain, updated_assessment
from assay.store.sql.dialect import Dialect, in_chunks, insert_ignoring_conflicts, upsert
from assay.store.sql.experiments import parse_experiment_id
from assay.store.sql.label_schemas import find_label_schemas
from assay.store.sql.schema import MAX_KEY_CHARS, assessments, label_schemas, spans, traces
from assay.store.sql.trace_tags import trace_not_found

__all__ = [
    "delete_assessment",
    "find_session_trace_id",
    "get_assessment",
    "log_assessment",
    "log_trace_assessments",
    "update_assessment",
    "with_assessments",
]

_ORDER = (assessments.c.create_time_ms, assessments.c.id)


# -- writing -----------------------------------------------------------------------------

def log_assessment(conn: Connection, dialect: Dialect, assessment: Assessment) -> Assessment:
    """Store a new assessment on its trace and return it as stored (with its id).

    With ``overrides`` set, the overridden assessment (of the same kind, on the same trace
    or session) becomes invalid. With an ``idempotency_key`` that was used before on the
    same trace, nothing is written and the assessment stored then is returned.

    Raises:
        NotFoundError: no such trace, or no such assessment to override.
        InvalidParameterError: the span is not part of the trace, the trace is not part of
            the session named in the metadata, or the kinds differ on an override.
        AlreadyExistsError: the idempotency key was used for an assessment of another trace.
    """
    trace_id = _check_trace_id(assessment.trace_id)
    trace = _get_trace_row(conn, trace_id, schema_name=assessment.name)
    key = assessment.idempotency_key
    if key is not None:
        earlier = _find_by_key(conn, key, trace_id)
        if earlier is not None:
            return earlier
    if assessment.span_id is not None:
        _check_span(conn, trace_id, assessment.span_id)
    session_id = _session_projection(assessment)
    if session_id is not None and session_id != trace["session_id"]:
        raise InvalidParameterError(
            f"Invalid metadata 'mlflow.trace.session' {assessment.session_id!r}: trace "
            f"{trace_id!r} is not part of that session (its session is "
            f"{trace['session_id']!r})")
    assessment = checked_against_schema(conn, trace, assessment)
    superseded = None
    if assessment.overrides is not None:
        superseded = _superseded(conn, trace, assessment.overrides, assessment)
    row = _row(assessment, trace, new_assessment_id(), valid=True)
    row["overrides"] = superseded
    if key is None:
        conn.execute(assessments.insert(), row)
    else:
        # A concurrent retry with the same key may have inserted meanwhile: the unique key
        # makes this insert do nothing, and the retry's assessment is returned.
        inserted = conn.execute(upsert(dialect, assessments, ("idempotency_key",), ())
                                .returning(assessments.c.id), row).first()
        if inserted is None:
            earlier = _find_by_key(conn, key, trace_id)
            if earlier is None:  # stored and deleted again meanwhile
                raise AlreadyExistsError(
                    f"Invalid idempotency_key {key!r}: another call is using it; retry")
            return earlier
    if superseded is not None:
        conn.execute(assessments.update()
                     .where(assessments.c.assessment_id == superseded).values(valid=False))
    return _to_assessment(row)


def checked_against_schema(conn: Connection, trace: RowMapping,
                           assessment: Assessment) -> Assessment:
    """``assessment`` as stored when a label schema of its name exists in the trace's
    experiment: of the schema's kind, its value checked (a pass/fail label becomes its
    boolean); InvalidParameterError naming the schema otherwise. Feedback that carries an
    error instead of a value is not checked. Without a schema, unchanged.

    ``trace`` may carry ``has_label_schema`` (see :func:`_get_trace_row`): when it says no
    schema of the name exists, there is nothing to look up."""
    if "has_label_schema" in trace and not trace["has_label_schema"]:
        return assessment
    found = find_label_schemas(conn, str(trace["experiment_id"]), [assessment.name])
    schema = found.get(assessment.name)
    if schema is None:
        return assessment
    kind = "expectation" if isinstance(assessment, Expectation) else "feedback"
    if kind != schema.type.value:
        raise InvalidParameterError(
            f"Invalid {kind} {assessment.name!r}: label schema {assessment.name!r} of "
            f"experiment {str(trace['experiment_id'])!r} collects {schema.type.value}s")
    if assessment.value is None and assessment.error is not None:
        return assessment
    value = schema.check_value(assessment.value)
    return assessment if value == assessment.value and type(value) is type(
        assessment.value) else dataclasses.replace(assessment, value=value)


def update_assessment(conn: Connection, trace_id: str, assessment_id: str,
                      new: Assessment) -> Assessment:
    """Update an assessment in place (see ``rules.updated_assessment``)."""
    trace = _get_trace_row(conn, _check_trace_id(trace_id))
    row = _get_row(conn, trace, assessment_id, for_update=True)
    if row is None:
        raise _assessment_not_found(assessment_id, trace_id)
    updated = checked_against_schema(conn, trace, updated_assessment(_to_assessment(row), new))
    values = _row(updated, trace, row["assessment_id"], valid=row["valid"])
    changed = {name: values[name] for name in (
        "name", "value", "numeric_value", "error", "rationale", "metadata",
        "last_update_time_ms")}
    conn.execute(assessments.update().where(assessments.c.id == row["id"]).values(**changed))
    return updated


def delete_assessment(conn: Connection, trace_id: str, assessment_id: str) -> None:
    """Delete an assessment; nothing happens if it does not exist (the trace must).

    What overrode it now overrides what it overrode, and the assessment it overrode is valid
    again unless something else still overrides it.
    """
    trace = _get_trace_row(conn, _check_trace_id(trace_id))
    row = _get_row(conn, trace, assessment_id, for_update=True)
    if row is None:
        return
    parent = row["overrides"]
    conn.execute(assessments.update().where(assessments.c.overrides == row["assessment_id"])
                 .values(overrides=parent))
    conn.execute(assessments.delete().where(assessments.c.id == row["id"]))
    if parent is not None:
        still_overridden = conn.execute(
            sa.select(assessments.c.id).where(assessments.c.overrides == parent).limit(1)
        ).first() is not None
        conn.execute(assessments.update().where(assessments.c.assessment_id == parent)
                     .values(valid=not still_overridden))


def log_trace_assessments(conn: Connection, dialect: Dialect, batch: Sequence[Trace]) -> None:
    """Store the assessments that come inside logged traces (``info.assessments``).

    They were logged while their trace was running, so they were checked then; their ids
    and valid flags are kept. An assessment already stored (the same id, or the same
    idempotency key) is skipped, so logging a trace again stores nothing twice. Session-level
    assessments of other traces, read along with a trace, are not the trace's own and are
    skipped too.
    """
    rows: list[dict[str, Any]] = []
    # Traces in key order (as log_traces writes them, so concurrent batches lock in one
    # order), each trace's assessments in the order they were logged (ids follow it).
    for trace in sorted(batch, key=lambda t: t.info.trace_id):
        info = trace.info
        if not info.assessments:
            continue
        experiment_key = parse_experiment_id(info.experiment_id)
        if experiment_key is None:  # log_traces has refused the batch already
            continue
        span_ids = {span.span_id for span in trace.data.spans}
        session = info.session_id
        anchor = {"trace_id": info.trace_id, "experiment_id": experiment_key,
                  "session_id": None if session is None else session[:MAX_KEY_CHARS]}
        for assessment in info.assessments:
            if assessment.trace_id not in (None, info.trace_id):
                continue
            if span_ids and assessment.span_id is not None \
                    and assessment.span_id not in span_ids:
                raise _span_not_in_trace(assessment.span_id, info.trace_id)
            rows.append(_row(assessment, anchor,
                             assessment.assessment_id or new_assessment_id(),
                             valid=assessment.valid))
    if rows:
        conn.execute(insert_ignoring_conflicts(dialect, assessments), rows)


# -- reading -----------------------------------------------------------------------------

def get_assessment(conn: Connection, trace_id: str, assessment_id: str) -> Assessment:
    """The assessment with this id on this trace (or on its session); NotFoundError otherwise."""
    trace = _get_trace_row(conn, _check_trace_id(trace_id))
    row = _get_row(conn, trace, assessment_id, for_update=False)
    if row is None:
        raise _assessment_not_found(assessment_id, trace_id)
    return _to_assessment(row)


def find_session_trace_id(conn: Connection, session_id: str) -> str | None:
    """The first trace of a session (the anchor of its session-level assessments), or None."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidParameterError(
            f"Invalid session_id {session_id!r}: expected a non-empty string")
    check_key("session_id", session_id)
    row = conn.execute(
        sa.select(traces.c.trace_id)
        .where(traces.c.session_id == session_id[:MAX_KEY_CHARS])
        .order_by(traces.c.request_time_ms, traces.c.trace_id).limit(1)).first()
    return None if row is None else str(row.trace_id)


def with_assessments(conn: Connection, dialect: Dialect, batch: Sequence[Trace]) -> list[Trace]:
    """The traces with ``info.assessments`` filled in from the store.

    Each trace gets its own assessments, overridden ones included, then the session-level
    assessments of its session (in its experiment), oldest first.
    """
    found = load_assessments(conn, dialect, [trace.info for trace in batch])
    out = []
    for trace in batch:
        info = dataclasses.replace(trace.info, assessments=found[trace.info.trace_id])
        out.append(Trace(info=info, data=TraceData(spans=trace.data.spans,
                                                   assessments=info.assessments)))
    return out


def load_assessments(conn: Connection, dialect: Dialect,
                     infos: Sequence[TraceInfo]) -> dict[str, list[Assessment]]:
    """The assessments of each trace (see :func:`with_assessments`), by trace id."""
    trace_ids = [info.trace_id for info in infos]
    sessions = sorted({session[:MAX_KEY_CHARS] for info in infos
                       if (session := info.session_id) is not None})
    rows: dict[str, RowMapping] = {}
    for column, values in ((assessments.c.trace_id, trace_ids),
                           (assessments.c.session_id, sessions)):
        for chunk in in_chunks(values, dialect):
            query = sa.select(assessments).where(column.in_(chunk)).order_by(*_ORDER)
            for result in conn.execute(query):
                rows[result.assessment_id] = result._mapping
    own: dict[str, list[tuple[Any, Assessment]]] = {trace_id: [] for trace_id in trace_ids}
    of_session: dict[tuple[int, str], list[tuple[Any, Assessment]]] = {}
    for row in rows.values():
        item = ((row["create_time_ms"], row["id"]), _to_assessment(row))
        if row["trace_id"] in own:
            own[row["trace_id"]].append(item)
        if row["session_id"] is not None:
            of_session.setdefault((row["experiment_id"], row["session_id"]), []).append(item)
    found: dict[str, list[Assessment]] = {}
    for info in infos:
        items = list(own[info.trace_id])
        session = info.session_id
        experiment_key = parse_experiment_id(info.experiment_id)
        if session is not None and experiment_key is not None:
            items += [item for item in of_session.get((experiment_key,
                                                       session[:MAX_KEY_CHARS]), ())
                      if item[1].trace_id != info.trace_id]
        items.sort(key=lambda item: item[0])
        found[info.trace_id] = [assessment for _, assessment in items]
    return found


# -- helpers -----------------------------------------------------------------------------

def _row(assessment: Assessment, trace: dict[str, Any] | RowMapping, assessment_id: str,
         valid: bool) -> dict[str, Any]:
    """The ``assessments`` row of an assessment stored on ``trace``."""
    value = assessment.value
    error = assessment.error
    source = assessment.source
    return {
        "assessment_id": assessment_id,
        "trace_id": trace["trace_id"],
        "experiment_id": trace["experiment_id"],
        "span_id": assessment.span_id,
        "session_id": _session_projection(assessment),
        "name": assessment.name,
        "kind": assessment.kind,
        "value": None if value is None else encode_value(value),
        "numeric_value": numeric_value(value),
        "error": None if error is None else json.dumps(error.to_dictionary(),
                                                       ensure_ascii=False),
        "source_type": source.source_type.value,
        "source_id": source.source_id,
        "rationale": assessment.rationale,
        "metadata": json.dumps(assessment.metadata, ensure_ascii=False),
        "create_time_ms": assessment.create_time_ms,
        "last_update_time_ms": assessment.last_update_time_ms,
        "overrides": assessment.overrides,
        "valid": valid,
        "run_id": assessment.run_id,
        "idempotency_key": assessment.idempotency_key,
    }


def _to_assessment(row: dict[str, Any] | RowMapping) -> Assessment:
    common: dict[str, Any] = {
        "source": AssessmentSource(row["source_type"], row["source_id"]),
        "trace_id": row["trace_id"],
        "metadata": json.loads(row["metadata"]),
        "span_id": row["span_id"],
        "create_time_ms": row["create_time_ms"],
        "last_update_time_ms": row["last_update_time_ms"],
        "rationale": row["rationale"],
        "overrides": row["overrides"],
        "valid": bool(row["valid"]),
        "assessment_id": row["assessment_id"],
        "run_id": row["run_id"],
        "idempotency_key": row["idempotency_key"],
    }
    value = None if row["value"] is None else json.loads(row["value"])
    if row["kind"] == Expectation.kind:
        return Expectation(row["name"], value, **common)
    error = None if row["error"] is None else AssessmentError.from_dictionary(
        json.loads(row["error"]))
    return Feedback(row["name"], value, error, **common)


def _session_projection(assessment: Assessment) -> str | None:
    session = assessment.session_id
    return None if session is None else session[:MAX_KEY_CHARS]


def _check_trace_id(trace_id: object) -> str:
    if not isinstance(trace_id, str) or not trace_id:
        raise InvalidParameterError(
            f"Invalid trace_id {trace_id!r}: expected the id of a logged trace, such as "
            "'tr-' followed by 32 hex digits")
    return trace_id


# Built once: building a statement costs more Python than running this one does.
_TRACE_ROW = sa.select(traces.c.trace_id, traces.c.experiment_id, traces.c.session_id).where(
    traces.c.trace_id == sa.bindparam("trace_id"))
# The same, with whether a label schema of a name exists in the trace's experiment, in the
# same query (the same snapshot, so as fresh as a lookup of its own; another process may
# create a schema at any time, so no answer is kept between transactions). Most names have
# no schema, and then checked_against_schema needs no query: a lookup of its own made a
# feedback cost half as much again on SQLite.
_TRACE_ROW_WITH_SCHEMA = _TRACE_ROW.add_columns(
    sa.exists().where(label_schemas.c.experiment_id == traces.c.experiment_id,
                      label_schemas.c.name == sa.bindparam("schema_name"))
    .label("has_label_schema"))


def _get_trace_row(conn: Connection, trace_id: str,
                   schema_name: str | None = None) -> RowMapping:
    """The trace's id, experiment and session; with ``schema_name``, also
    ``has_label_schema``. NotFoundError naming the trace otherwise."""
    if schema_name is None:
        row = conn.execute(_TRACE_ROW, {"trace_id": trace_id}).first()
    else:
        row = conn.execute(_TRACE_ROW_WITH_SCHEMA,
                           {"trace_id": trace_id, "schema_name": schema_name}).first()
    if row is None:
        raise trace_not_found(trace_id)
    return row._mapping


def _check_span(conn: Connection, trace_id: str, span_id: str) -> None:
    found = conn.execute(sa.select(spans.c.id).where(spans.c.trace_id == trace_id,
                                                     spans.c.span_id == span_id)).first()
    if found is None:
        raise _span_not_in_trace(span_id, trace_id)


def _get_row(conn: Connection, trace: RowMapping, assessment_id: object,
             for_update: bool) -> RowMapping | None:
    """The row of an assessment of this trace, or of this trace's session; None otherwise."""
    if not isinstance(assessment_id, str) or not assessment_id:
        raise InvalidParameterError(
            f"Invalid assessment_id {assessment_id!r}: expected 'a-' followed by 32 hex digits")
    query = sa.select(assessments).where(assessments.c.assessment_id == assessment_id)
    if for_update:
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        return None
    row = found._mapping
    if row["trace_id"] == trace["trace_id"]:
        return row
    if (row["session_id"] is not None and row["session_id"] == trace["session_id"]
            and row["experiment_id"] == trace["experiment_id"]):
        return row
    return None


def _superseded(conn: Connection, trace: RowMapping, assessment_id: str,
                new: Assessment) -> str:
    """The id the new assessment supersedes: ``assessment_id``, or the newest assessment
    that already overrides it (``rules.newest_of_chain``). Each row of the chain it reads is
    locked until commit, so two concurrent overrides of one assessment form a chain, not a
    fork."""
    row = _get_row(conn, trace, assessment_id, for_update=True)
    if row is None:
        raise _assessment_not_found(assessment_id, str(trace["trace_id"]))

    def overriders_of(overridden: str) -> list[Assessment]:
        rows = conn.execute(sa.select(assessments)
                            .where(assessments.c.overrides == overridden)
                            .order_by(assessments.c.id).with_for_update())
        return [_to_assessment(found._mapping) for found in rows]

    return str(newest_of_chain(_to_assessment(row), new, overriders_of).assessment_id)


def _find_by_key(conn: Connection, key: str, trace_id: str) -> Assessment | None:
    found = conn.execute(
        sa.select(assessments).where(assessments.c.idempotency_key == key)).first()
    if found is None:
        return None
    if found.trace_id != trace_id:
        raise AlreadyExistsError(
            f"Invalid idempotency_key {key!r}: it was used for assessment "
            f"{found.assessment_id!r} of another trace ({found.trace_id!r})")
    return _to_assessment(found._mapping)


def _assessment_not_found(assessment_id: object, trace_id: str) -> NotFoundError:
    return NotFoundError(f"Assessment with ID {assessment_id!r} not found for trace "
                         f"{trace_id!r}")


def _span_not_in_trace(span_id: str, trace_id: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"Invalid span_id {span_id!r}: trace {trace_id!r} has no span with this id")
