"""Every ``ASSAY_*`` environment variable, in one place, with its default.

Arguments passed in code win over the environment; a bad value in the environment logs a
warning and falls back to the default.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

__all__ = ["Settings"]

_log = logging.getLogger(__name__)

#: Where traces go: ``sqlite:///…``, ``postgresql://…``. Default ``sqlite:///assay.db``.
ASSAY_TRACKING_URI = "ASSAY_TRACKING_URI"
#: The experiment traces go to when none was set in code (a name; created on first use).
ASSAY_EXPERIMENT_NAME = "ASSAY_EXPERIMENT_NAME"
#: The experiment id traces go to when none was set in code.
ASSAY_EXPERIMENT_ID = "ASSAY_EXPERIMENT_ID"
#: "false" turns tracing off: traced functions run untouched.
ASSAY_TRACING_ENABLED = "ASSAY_TRACING_ENABLED"
#: The share of traces kept, from 0 to 1. Default 1.
ASSAY_TRACE_SAMPLING_RATIO = "ASSAY_TRACE_SAMPLING_RATIO"
#: How many finished traces may wait for export before new ones are dropped (and counted).
ASSAY_EXPORT_QUEUE_SIZE = "ASSAY_EXPORT_QUEUE_SIZE"
#: The most traces written in one transaction.
ASSAY_EXPORT_BATCH_SIZE = "ASSAY_EXPORT_BATCH_SIZE"
#: Seconds the exit hook waits for queued traces to be written.
ASSAY_EXPORT_EXIT_TIMEOUT = "ASSAY_EXPORT_EXIT_TIMEOUT"


def _env_float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        _log.warning("Ignoring %s=%r: expected a number from %s to %s; using %s",
                     name, raw, low, high, default)
        return default
    return value


def _env_int(name: str, default: int, low: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low:
        _log.warning("Ignoring %s=%r: expected an integer of at least %s; using %s",
                     name, raw, low, default)
        return default
    return value


@dataclass(frozen=True)
class Settings:
    """The SDK's settings. ``Settings.from_env()`` reads the environment."""

    tracking_uri: str | None = None
    experiment_name: str | None = None
    experiment_id: str | None = None
    tracing_enabled: bool = True
    sampling_ratio: float = 1.0
    export_queue_size: int = 10_000
    export_batch_size: int = 1_000
    export_exit_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        enabled = os.environ.get(ASSAY_TRACING_ENABLED, "true").strip().lower()
        return cls(
            tracking_uri=os.environ.get(ASSAY_TRACKING_URI) or None,
            experiment_name=os.environ.get(ASSAY_EXPERIMENT_NAME) or None,
            experiment_id=os.environ.get(ASSAY_EXPERIMENT_ID) or None,
            tracing_enabled=enabled not in ("false", "0", "no", "off"),
            sampling_ratio=_env_float(ASSAY_TRACE_SAMPLING_RATIO, 1.0, 0.0, 1.0),
            export_queue_size=_env_int(ASSAY_EXPORT_QUEUE_SIZE, 10_000, 1),
            export_batch_size=_env_int(ASSAY_EXPORT_BATCH_SIZE, 1_000, 1),
            export_exit_timeout=_env_float(ASSAY_EXPORT_EXIT_TIMEOUT, 30.0, 0.0, 86_400.0),
        )
