"""The process's default Assay runtime, pointed at a test's store for the length of a block,
and traces read back through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import assay
from assay import _runtime
from assay.entities import Trace
from assay.settings import Settings

__all__ = ["default_runtime", "last_trace", "read_trace"]


@contextmanager
def default_runtime(tracking_uri: str, **settings: Any) -> Iterator[_runtime.Runtime]:
    """The default runtime, new, tracing into ``tracking_uri`` (with these settings);
    afterwards a fresh in-memory one takes its place and it is closed."""
    runtime = _runtime.reset(Settings(tracking_uri=tracking_uri, **settings))
    try:
        yield runtime
    finally:
        _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
        runtime.close()


def read_trace(trace_id: str | None) -> Trace:
    """The trace of ``trace_id`` read back through the SDK; it must be there."""
    assert trace_id is not None
    trace = assay.get_trace(trace_id)
    assert trace is not None
    return trace


def last_trace() -> Trace:
    """The last trace this thread made, read back through the SDK."""
    return read_trace(assay.get_last_active_trace_id())
