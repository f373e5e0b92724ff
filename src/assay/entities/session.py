"""Sessions: the traces of one conversation (those sharing metadata ``mlflow.trace.session``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from assay.entities.assessment import Assessment
from assay.entities.trace import Trace

__all__ = ["Session"]


@dataclass(frozen=True)
class Session:
    """A session: its id and its traces, oldest first (the turns in order).

    Iterate over it, index it or take its ``len`` as over its list of traces (as MLflow's
    Session allows).
    """

    id: str
    traces: list[Trace] = field(default_factory=list)

    def __iter__(self) -> Iterator[Trace]:
        return iter(self.traces)

    def __len__(self) -> int:
        return len(self.traces)

    def __getitem__(self, index: int) -> Trace:
        return self.traces[index]

    @property
    def assessments(self) -> list[Assessment]:
        """The session-level assessments (each is also listed with every trace)."""
        seen: dict[str | None, Assessment] = {}
        for trace in self.traces:
            for assessment in trace.info.assessments:
                if assessment.session_id == self.id:
                    seen.setdefault(assessment.assessment_id or str(id(assessment)), assessment)
        return list(seen.values())

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, traces={len(self.traces)})"
