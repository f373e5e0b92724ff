"""Every ``ASSAY_*`` environment variable the SDK reads, in one place, with its default.

Arguments passed in code win over the environment; a bad value in the environment logs a
warning and falls back to the default. (``assay server`` passes its own settings to its
worker processes as ``ASSAY_SERVER_*`` variables: :mod:`assay.server.settings`.)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

__all__ = [
    "Settings",
    "api_key_from_env",
    "http_retry_seconds_from_env",
    "judge_model_from_env",
    "openai_endpoint_from_env",
]

_log = logging.getLogger(__name__)

#: Where traces go: ``sqlite:///…``, ``postgresql://…``, or an Assay server at
#: ``http(s)://host:port``. Default ``sqlite:///assay.db``.
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
#: The API key sent (as ``Authorization: Bearer …``) to a server started with ``--auth``.
ASSAY_API_KEY = "ASSAY_API_KEY"
#: Seconds a request to a server that does not answer keeps being retried. Default 30.
ASSAY_HTTP_RETRY_SECONDS = "ASSAY_HTTP_RETRY_SECONDS"

#: The model LLM judges use when the scorer names none, e.g. ``openai:/gpt-4o-mini``.
#: ``MLFLOW_GENAI_JUDGE_DEFAULT_MODEL`` is read too; default ``openai:/gpt-4.1-mini``.
ASSAY_GENAI_JUDGE_DEFAULT_MODEL = "ASSAY_GENAI_JUDGE_DEFAULT_MODEL"
_MLFLOW_JUDGE_DEFAULT_MODEL = "MLFLOW_GENAI_JUDGE_DEFAULT_MODEL"
#: The default of :data:`ASSAY_GENAI_JUDGE_DEFAULT_MODEL` (MLflow's).
DEFAULT_JUDGE_MODEL = "openai:/gpt-4.1-mini"

#: The default of :data:`ASSAY_HTTP_RETRY_SECONDS`.
DEFAULT_HTTP_RETRY_SECONDS = 30.0


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


def api_key_from_env() -> str | None:
    """:data:`ASSAY_API_KEY`, or None when it is unset or empty."""
    return os.environ.get(ASSAY_API_KEY) or None


def judge_model_from_env() -> str:
    """:data:`ASSAY_GENAI_JUDGE_DEFAULT_MODEL`, else MLflow's variable of the same meaning,
    else :data:`DEFAULT_JUDGE_MODEL`."""
    for variable in (ASSAY_GENAI_JUDGE_DEFAULT_MODEL, _MLFLOW_JUDGE_DEFAULT_MODEL):
        if value := os.environ.get(variable, "").strip():
            return value
    return DEFAULT_JUDGE_MODEL


def openai_endpoint_from_env() -> tuple[str | None, str | None]:
    """The openai client's own variables, as a judge reads them: ``OPENAI_BASE_URL`` (None:
    OpenAI's) and ``OPENAI_API_KEY``."""
    return (os.environ.get("OPENAI_BASE_URL") or None,
            os.environ.get("OPENAI_API_KEY") or None)


def mlflow_credentials_from_env() -> tuple[str | None, tuple[str, str] | None]:
    """The credentials the mlflow client sends to its server, read as it reads them, for
    ``assay import mlflow`` from a server: ``MLFLOW_TRACKING_TOKEN`` (a bearer token), else
    ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD`` (basic); each None when
    unset."""
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return token, None
    if username := os.environ.get("MLFLOW_TRACKING_USERNAME"):
        return None, (username, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    return None, None


def http_retry_seconds_from_env() -> float:
    """:data:`ASSAY_HTTP_RETRY_SECONDS` (from 0 to a day), or its default."""
    return _env_float(ASSAY_HTTP_RETRY_SECONDS, DEFAULT_HTTP_RETRY_SECONDS, 0.0, 86_400.0)
