"""Runs: a labeling session or an evaluation, recorded in an experiment.

A run has MLflow's shape (``run.info.run_id``, ``run.data.metrics``), so code written for
MLflow reads it unchanged, plus a ``kind`` saying what made it. Traces are linked to runs:
a labeling session's items, an evaluation's rows; a trace may be in several runs.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.entities._checks import check_text
from assay.errors import InvalidParameterError

__all__ = [
    "MAX_RUN_NAME_CHARS",
    "Run",
    "RunData",
    "RunInfo",
    "RunKind",
    "RunStatus",
    "check_run_id",
    "check_run_view_type",
    "new_run_id",
]

MAX_RUN_NAME_CHARS = 250
# MLflow's run ids are 32 lowercase hex digits (a uuid4 without dashes).
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def new_run_id() -> str:
    """A fresh run id, as MLflow writes them: 32 hex digits."""
    return uuid.uuid4().hex


def check_run_id(value: object, field_name: str = "run_id") -> str:
    """``value`` if it is a run id (32 lowercase hex digits); else InvalidParameterError
    naming ``field_name``."""
    if isinstance(value, str) and _RUN_ID.fullmatch(value):
        return value
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else "(too long)"
    raise InvalidParameterError(
        f"Invalid {field_name} {shown}: expected a run id, 32 lowercase hex digits")


# MLflow's ViewType values that include every run Assay keeps (it deletes runs instead of
# marking them deleted): ACTIVE_ONLY and ALL.
_VIEW_TYPES: frozenset[int | str] = frozenset({1, 3, "ACTIVE_ONLY", "ALL"})


def check_run_view_type(value: object) -> None:
    """InvalidParameterError unless ``value`` is None or MLflow's ViewType ACTIVE_ONLY (1) or
    ALL (3); DELETED_ONLY (2) has nothing to show in Assay and is refused as such."""
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)
                         and value in _VIEW_TYPES):
        return
    raise InvalidParameterError(
        f"Invalid run_view_type {value!r}: expected ACTIVE_ONLY (1) or ALL (3); Assay deletes "
        "runs instead of marking them deleted, so DELETED_ONLY has nothing to show")


class RunKind(enum.StrEnum):
    """What a run records."""

    LABELING = "labeling"
    EVALUATION = "evaluation"


class RunStatus(enum.StrEnum):
    """A run's state, in MLflow's words."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def parse(cls, value: object) -> RunStatus:
        if isinstance(value, RunStatus):
            return value
        if isinstance(value, str):
            try:
                return cls(value.upper())
            except ValueError:
                pass
        raise InvalidParameterError(
            f"Invalid status {value!r}: expected one of {', '.join(s.value for s in cls)}")


@dataclass(frozen=True)
class RunInfo:
    """Who, what and when of a run."""

    run_id: str
    experiment_id: str
    run_name: str
    kind: RunKind
    status: RunStatus = RunStatus.RUNNING
    start_time: int = 0
    end_time: int | None = None
    user_id: str | None = None
    lifecycle_stage: str = "active"

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        check_text("run_name", self.run_name, MAX_RUN_NAME_CHARS)
        object.__setattr__(self, "kind", RunKind(self.kind))
        object.__setattr__(self, "status", RunStatus.parse(self.status))

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for ``run_id``."""
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "experiment_id": self.experiment_id,
            "run_name": self.run_name,
            "kind": self.kind.value,
            "status": self.status.value,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "user_id": self.user_id,
            "lifecycle_stage": self.lifecycle_stage,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunInfo:
        end_time = d.get("end_time")
        return cls(
            run_id=d.get("run_id") or d.get("run_uuid") or "",
            experiment_id=str(d["experiment_id"]),
            run_name=d.get("run_name") or "",
            kind=RunKind(d.get("kind") or RunKind.EVALUATION),
            status=RunStatus.parse(d.get("status") or RunStatus.RUNNING),
            start_time=int(d.get("start_time") or 0),
            end_time=None if end_time is None else int(end_time),
            user_id=d.get("user_id"),
            lifecycle_stage=d.get("lifecycle_stage") or "active",
        )


@dataclass(frozen=True)
class RunData:
    """What a run measured (metrics), was given (params) and is labelled with (tags)."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": [{"key": k, "value": v} for k, v in self.metrics.items()],
            "params": [{"key": k, "value": v} for k, v in self.params.items()],
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunData:
        def pairs(name: str) -> dict[str, Any]:
            items = d.get(name) or []
            if isinstance(items, Mapping):
                return dict(items)
            return {item["key"]: item["value"] for item in items}

        return cls(metrics={k: float(v) for k, v in pairs("metrics").items()},
                   params={k: str(v) for k, v in pairs("params").items()},
                   tags={k: str(v) for k, v in pairs("tags").items()})


@dataclass(frozen=True)
class Run:
    """A run: ``info`` and ``data``, as MLflow's ``Run``."""

    info: RunInfo
    data: RunData = field(default_factory=RunData)

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        return cls(info=RunInfo.from_dict(d["info"]), data=RunData.from_dict(d.get("data") or {}))
