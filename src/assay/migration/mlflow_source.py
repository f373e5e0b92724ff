"""Where ``assay import mlflow`` reads from: an MLflow tracking database, or an MLflow
server over its REST protocol (:mod:`assay.migration.mlflow_http`).

Both answer the same questions (:class:`Source`): the experiments; an experiment's traces,
oldest first, a page at a time, each with its assessments; and whole traces by id. A
database's spans are in its ``spans`` table (MLflow 3.x) or, for a trace MLflow kept
elsewhere (2.x, or a server that stored them as artifacts), in a ``traces.json`` file under
the trace's artifact location, which is read when it is a local path (``file://`` or a
plain path). A trace whose spans cannot be read is reported, not copied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from assay.entities import Trace
from assay.entities.assessment import Assessment
from assay.entities.span import Span
from assay.errors import AssayError, InvalidParameterError
from assay.migration.convert import (
    ARTIFACT_LOCATION_TAG,
    SPANS_LOCATION_TAG,
    assessment_from_row,
    span_from_mlflow_dict,
    trace_info_from_row,
    with_spans,
)

__all__ = [
    "DatabaseSource",
    "SkippedTrace",
    "Source",
    "SourceExperiment",
    "SourcePage",
]

#: The file MLflow writes a trace's spans to under the trace's artifact location.
TRACE_DATA_FILE = "traces.json"


@dataclass(frozen=True)
class SourceExperiment:
    """An MLflow experiment: its id there, name, tags, artifact location, stage."""

    experiment_id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    artifact_location: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class SourcePage:
    """A page of an experiment's traces: their ids, oldest first, the assessments each has
    in MLflow (of the kinds Assay keeps), and how many assessments were left out."""

    trace_ids: list[str]
    assessments: dict[str, list[Assessment]]
    unreadable_assessments: int = 0


@dataclass(frozen=True)
class SkippedTrace:
    """A trace that could not be read, and why."""

    trace_id: str
    reason: str


class Source(Protocol):
    """An MLflow tracking store to copy from."""

    description: str

    def experiments(self) -> list[SourceExperiment]:
        """Every experiment of the store (deleted ones marked)."""
        ...

    def count_traces(self, experiment: SourceExperiment, since_ms: int | None) -> int | None:
        """How many traces the experiment holds since ``since_ms``; None if unknown."""
        ...

    def pages(self, experiment: SourceExperiment, since_ms: int | None,
              page_size: int) -> Iterator[SourcePage]:
        """The experiment's traces since ``since_ms``, oldest first, a page at a time."""
        ...

    def read_traces(self, experiment: SourceExperiment, trace_ids: Sequence[str],
                    target_experiment_id: str) -> list[Trace | SkippedTrace]:
        """These traces, whole (header, tags, metadata, assessments, spans), in the Assay
        experiment ``target_experiment_id``; a SkippedTrace for one that cannot be read."""
        ...

    def close(self) -> None:
        ...


class DatabaseSource:
    """An MLflow tracking database, read directly."""

    def __init__(self, url: str) -> None:
        # Imported here: only a database source needs SQLAlchemy.
        from assay.store.sql.mlflow_tables import MlflowDatabase

        self._db = MlflowDatabase(url)
        self.description = self._db.uri

    def close(self) -> None:
        self._db.close()

    def experiments(self) -> list[SourceExperiment]:
        return [SourceExperiment(
            experiment_id=str(row["experiment_id"]), name=str(row["name"]),
            tags={k: v for k, v in row["tags"].items() if v is not None},
            artifact_location=row.get("artifact_location"),
            deleted=row.get("lifecycle_stage") == "deleted")
            for row in self._db.experiments()]

    def count_traces(self, experiment: SourceExperiment, since_ms: int | None) -> int | None:
        return self._db.count_traces(experiment.experiment_id, since_ms)

    def pages(self, experiment: SourceExperiment, since_ms: int | None,
              page_size: int) -> Iterator[SourcePage]:
        after: tuple[int, str] | None = None
        while True:
            keys = self._db.trace_page(experiment.experiment_id, since_ms, after, page_size)
            if not keys:
                return
            after = keys[-1]
            trace_ids = [trace_id for _, trace_id in keys]
            assessments: dict[str, list[Assessment]] = {}
            unreadable = 0
            for trace_id, rows in self._db.assessments_of(trace_ids).items():
                kept, bad = _assessments(rows)
                assessments[trace_id] = kept
                unreadable += bad
            yield SourcePage(trace_ids, assessments, unreadable)

    def read_traces(self, experiment: SourceExperiment, trace_ids: Sequence[str],
                    target_experiment_id: str) -> list[Trace | SkippedTrace]:
        found = self._db.read_traces(trace_ids)
        out: list[Trace | SkippedTrace] = []
        for trace_id in trace_ids:
            rows = found.get(trace_id)
            if rows is None:
                out.append(SkippedTrace(trace_id, "deleted from MLflow while importing"))
                continue
            try:
                assessments, _ = _assessments(rows.assessments)
                info = trace_info_from_row(rows.info, rows.tags, rows.metadata, assessments,
                                           target_experiment_id)
                if rows.spans:
                    spans = [span_from_mlflow_dict(json.loads(content))
                             for content in rows.spans]
                else:
                    spans = artifact_spans(rows.tags, experiment, trace_id)
                out.append(with_spans(info, spans))
            except (AssayError, ValueError, KeyError, TypeError, OSError) as exc:
                out.append(SkippedTrace(trace_id, str(exc) or type(exc).__name__))
        return out


def _assessments(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Assessment], int]:
    """The assessments Assay keeps of these rows, and how many were left out (issue
    references, unreadable rows)."""
    kept: list[Assessment] = []
    left_out = 0
    for row in rows:
        try:
            assessment = assessment_from_row(row)
        except (AssayError, ValueError, KeyError, TypeError):
            assessment = None
        if assessment is None:
            left_out += 1
        else:
            kept.append(assessment)
    return kept, left_out


def artifact_spans(tags: Mapping[str, str], experiment: SourceExperiment,
                   trace_id: str) -> list[Span]:
    """The spans of a trace kept in its ``traces.json`` artifact (a local one).

    InvalidParameterError when MLflow says the spans are in its database but none are
    there (a trace still being written), or the artifact is not on a local path; OSError
    when the file cannot be read.
    """
    if tags.get(SPANS_LOCATION_TAG) == "TRACKING_STORE":
        raise InvalidParameterError("its spans are not in the database yet (MLflow is still "
                                    "writing it?)")
    location = tags.get(ARTIFACT_LOCATION_TAG)
    if not location and experiment.artifact_location:
        location = f"{experiment.artifact_location.rstrip('/')}/traces/{trace_id}/artifacts"
    if not location:
        raise InvalidParameterError("it has no spans in the database and no artifact "
                                    "location")
    path = _local_path(location)
    if path is None:
        raise InvalidParameterError(
            f"its spans are in a {TRACE_DATA_FILE} at {location!r}, which is not a local "
            "path; import from the MLflow server (http://) instead, which serves it")
    with open(os.path.join(path, TRACE_DATA_FILE), encoding="utf-8") as file:
        data = json.load(file)
    return [span_from_mlflow_dict(span) for span in data.get("spans") or ()]


def _local_path(location: str) -> str | None:
    if location.startswith("file:"):
        return unquote(urlparse(location).path)
    if "://" in location or location.startswith(("s3:", "gs:", "wasbs:", "dbfs:",
                                                  "mlflow-artifacts:")):
        return None
    return location
