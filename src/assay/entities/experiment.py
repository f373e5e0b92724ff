"""Experiments: the named containers traces are logged into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_EXPERIMENT_ID", "DEFAULT_EXPERIMENT_NAME", "Experiment"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


@dataclass(frozen=True)
class Experiment:
    """An experiment: an id, a unique name (which may contain slashes), and tags."""

    experiment_id: str
    name: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)
    lifecycle_stage: str = "active"
    artifact_location: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Experiment:
        tags = d.get("tags") or {}
        if isinstance(tags, list):
            tags = {t["key"]: t["value"] for t in tags}
        return cls(
            experiment_id=str(d["experiment_id"]),
            name=d["name"],
            creation_time=int(d.get("creation_time") or 0),
            last_update_time=int(d.get("last_update_time") or 0),
            tags=dict(tags),
            lifecycle_stage=d.get("lifecycle_stage") or "active",
            artifact_location=d.get("artifact_location") or "",
        )
