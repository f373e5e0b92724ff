"""Assay: tracing, human feedback and evaluation for LLM applications.

The module-level API mirrors MLflow's (``import assay`` where MLflow code has
``import mlflow``)::

    import assay

    assay.set_experiment("/Shared/production-app")

    @assay.trace
    def my_chatbot(question: str) -> str: ...

    my_chatbot("What is MLflow?")
    trace = assay.get_trace(assay.get_last_active_trace_id())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay import entities, openai, tracing
from assay.client import AssayClient, MlflowClient
from assay.fluent import (
    create_experiment,
    create_feedback_token,
    delete_assessment,
    delete_traces,
    flush_trace_async_logging,
    get_assessment,
    get_experiment,
    get_experiment_by_name,
    get_feedback_summary,
    get_run,
    get_trace,
    get_tracking_uri,
    log_assessment,
    log_expectation,
    log_feedback,
    override_feedback,
    search_experiments,
    search_runs,
    search_sessions,
    search_traces,
    set_experiment,
    set_tracking_uri,
    update_assessment,
)
from assay.tracing.current_trace import delete_trace_tag, set_trace_tag, update_current_trace
from assay.tracing.fluent import (
    get_active_trace_id,
    get_current_active_span,
    get_last_active_trace_id,
    start_span,
    start_span_no_context,
    trace,
)
from assay.version import __version__

if TYPE_CHECKING:
    from assay import genai

__all__ = [
    "AssayClient",
    "MlflowClient",
    "__version__",
    "create_experiment",
    "create_feedback_token",
    "delete_assessment",
    "delete_trace_tag",
    "delete_traces",
    "entities",
    "flush_trace_async_logging",
    "genai",
    "get_active_trace_id",
    "get_assessment",
    "get_current_active_span",
    "get_experiment",
    "get_experiment_by_name",
    "get_feedback_summary",
    "get_last_active_trace_id",
    "get_run",
    "get_trace",
    "get_tracking_uri",
    "log_assessment",
    "log_expectation",
    "log_feedback",
    "openai",
    "override_feedback",
    "search_experiments",
    "search_runs",
    "search_sessions",
    "search_traces",
    "set_experiment",
    "set_trace_tag",
    "set_tracking_uri",
    "start_span",
    "start_span_no_context",
    "trace",
    "tracing",
    "update_assessment",
    "update_current_trace",
]


def __getattr__(name: str) -> object:
    # assay.genai (labeling, evaluation) is loaded when first used, so that an app that only
    # traces does not pay for importing it.
    if name == "genai":
        import importlib

        return importlib.import_module("assay.genai")
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
