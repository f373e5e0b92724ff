"""Reading an MLflow tracking database (MLflow's own schema, not Assay's), for ``assay import
mlflow``: experiments, trace headers with their tags and metadata, assessments, and spans.

MLflow's tables are reflected from the database rather than declared here, so a store made
by another MLflow version reads too: what a version lacks (the ``spans`` table before 3.x)
reads as empty. Only reads; rows come back as plain dicts, which
:mod:`assay.migration.mlflow_source` turns into Assay's entities. Trace ids are read in
keyset pages ordered by ``(timestamp_ms, request_id)``, the order of MLflow's own index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from assay.errors import InvalidParameterError, StoreUnavailableError
from assay.store.uri import mask_uri

__all__ = ["MlflowDatabase", "MlflowRows"]

_TABLES = ("experiments", "experiment_tags", "trace_info", "trace_tags",
           "trace_request_metadata", "assessments", "spans")
#: Bound parameters per IN list (SQLite allows 32,766; MySQL and PostgreSQL more).
_CHUNK = 500


@dataclass
class MlflowRows:
    """One trace as MLflow's tables hold it: its ``trace_info`` row, tags, metadata,
    ``assessments`` rows (oldest first) and the JSON ``content`` of its spans."""

    info: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    spans: list[str] = field(default_factory=list)


class MlflowDatabase:
    """An MLflow tracking database (``sqlite:///...``, ``postgresql://...``,
    ``mysql://...``), read with SQLAlchemy Core."""

    def __init__(self, url: str) -> None:
        self.uri = mask_uri(url)
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError:
            raise InvalidParameterError(
                f"Invalid MLflow database URL {self.uri!r}: expected sqlite:///<file>, "
                "postgresql://..., or mysql://...") from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            self._engine = sa.create_engine(parsed)
            metadata = sa.MetaData()
            with self._engine.connect() as conn:
                present = set(sa.inspect(conn).get_table_names())
                if not {"experiments", "trace_info"} <= present:
                    raise InvalidParameterError(
                        f"{self.uri} is not an MLflow tracking database (it has no "
                        "experiments and trace_info tables)")
                metadata.reflect(conn, only=[t for t in _TABLES if t in present])
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailableError(
                f"Cannot read the MLflow database {self.uri}: {exc.orig}") from None
        except ModuleNotFoundError as exc:
            raise InvalidParameterError(
                f"Cannot read the MLflow database {self.uri}: its driver {exc.name} is not "
                "installed") from None
        self._t = metadata.tables

    def close(self) -> None:
        self._engine.dispose()

    def experiments(self) -> list[dict[str, Any]]:
        """Every experiment (deleted ones too: ``lifecycle_stage``), by id, with ``tags``."""
        experiments = self._t["experiments"]
        with self._engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(
                sa.select(experiments).order_by(experiments.c.experiment_id))]
            tags: dict[Any, dict[str, str]] = {}
            table = self._t.get("experiment_tags")
            if table is not None:
                for tag in conn.execute(sa.select(table)):
                    tags.setdefault(tag.experiment_id, {})[tag.key] = tag.value
        for experiment in rows:
            experiment["tags"] = tags.get(experiment["experiment_id"], {})
        return rows

    def count_traces(self, experiment_id: str, since_ms: int | None) -> int:
        """How many traces the experiment holds (since ``since_ms``, when given)."""
        info = self._t["trace_info"]
        query = sa.select(sa.func.count()).select_from(info).where(
            *self._of_experiment(experiment_id, since_ms))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def trace_page(self, experiment_id: str, since_ms: int | None,
                   after: tuple[int, str] | None, limit: int) -> list[tuple[int, str]]:
        """The next ``limit`` traces of the experiment as ``(timestamp_ms, request_id)``,
        oldest first, after the key ``after`` (from the start when None)."""
        info = self._t["trace_info"]
        where = self._of_experiment(experiment_id, since_ms)
        if after is not None:
            where.append(sa.tuple_(info.c.timestamp_ms, info.c.request_id) > sa.tuple_(
                sa.literal(after[0]), sa.literal(after[1])))
        query = (sa.select(info.c.timestamp_ms, info.c.request_id).where(*where)
                 .order_by(info.c.timestamp_ms, info.c.request_id).limit(limit))
        with self._engine.connect() as conn:
            return [(int(row.timestamp_ms), str(row.request_id)) for row in conn.execute(query)]

    def assessments_of(self, trace_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The ``assessments`` rows of these traces, oldest first, by trace id."""
        with self._engine.connect() as conn:
            return self._assessments(conn, trace_ids)

    def read_traces(self, trace_ids: Sequence[str], with_spans: bool = True,
                    ) -> dict[str, MlflowRows]:
        """These traces' rows, by id (ids that name no trace are left out)."""
        info = self._t["trace_info"]
        found: dict[str, MlflowRows] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(trace_ids):
                for row in conn.execute(sa.select(info).where(info.c.request_id.in_(chunk))):
                    found[row.request_id] = MlflowRows(dict(row._mapping))
            ids = list(found)
            for name, attribute in (("trace_tags", "tags"),
                                    ("trace_request_metadata", "metadata")):
                table = self._t.get(name)
                if table is None:
                    continue
                for chunk in _chunks(ids):
                    for row in conn.execute(sa.select(table.c.request_id, table.c.key,
                                                      table.c.value)
                                            .where(table.c.request_id.in_(chunk))):
                        getattr(found[row.request_id], attribute)[row.key] = row.value
            for trace_id, rows in self._assessments(conn, ids).items():
                found[trace_id].assessments = rows
            spans = self._t.get("spans")
            if with_spans and spans is not None:
                for chunk in _chunks(ids):
                    query = (sa.select(spans.c.trace_id, spans.c.content)
                             .where(spans.c.trace_id.in_(chunk))
                             .order_by(spans.c.trace_id, spans.c.start_time_unix_nano,
                                       spans.c.span_id))
                    for row in conn.execute(query):
                        if row.content:  # MLflow empties a span archived elsewhere
                            found[row.trace_id].spans.append(row.content)
        return found

    def _assessments(self, conn: sa.Connection, trace_ids: Sequence[str],
                     ) -> dict[str, list[dict[str, Any]]]:
        table = self._t.get("assessments")
        out: dict[str, list[dict[str, Any]]] = {trace_id: [] for trace_id in trace_ids}
        if table is None:
            return out
        for chunk in _chunks(trace_ids):
            query = (sa.select(table).where(table.c.trace_id.in_(chunk))
                     .order_by(table.c.created_timestamp, table.c.assessment_id))
            for found in conn.execute(query):
                out[found.trace_id].append(dict(found._mapping))
        return out

    def _of_experiment(self, experiment_id: str,
                       since_ms: int | None) -> list[sa.ColumnElement[bool]]:
        info = self._t["trace_info"]
        try:
            key = int(experiment_id)
        except ValueError:
            raise InvalidParameterError(
                f"Invalid MLflow experiment id {experiment_id!r}: expected an integer"
            ) from None
        where = [info.c.experiment_id == key]
        if since_ms is not None:
            where.append(info.c.timestamp_ms >= since_ms)
        return where


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]
