"""Tracing controls: turn tracing on and off, sample, carry spans into threads, and see
what the background exporter did.

The tracing API itself (``trace``, ``start_span``, …) is at the top of the ``assay``
package, as in MLflow.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from assay import _runtime
from assay.errors import InvalidParameterError
from assay.tracing.exporter import ExportStatus

__all__ = [
    "ContextThreadPoolExecutor",
    "ExportStatus",
    "disable",
    "enable",
    "get_export_status",
    "is_enabled",
    "set_sampling_ratio",
    "wrap_context",
]

P = ParamSpec("P")
R = TypeVar("R")


def enable() -> None:
    """Record traces again after :func:`disable`."""
    _runtime.runtime().tracing_enabled = True


def disable() -> None:
    """Stop recording: traced functions run as if undecorated (at almost no cost)."""
    _runtime.runtime().tracing_enabled = False


def is_enabled() -> bool:
    """Whether traces are being recorded."""
    return _runtime.runtime().tracing_enabled


def set_sampling_ratio(ratio: float) -> None:
    """Keep this share of new traces, from 0 (none) to 1 (all, the default)."""
    if not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise InvalidParameterError(f"sampling ratio must be a number from 0 to 1, "
                                    f"got {ratio!r}")
    _runtime.runtime().tracer.sampling_ratio = float(ratio)


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the current context, so spans it opens in another thread nest under
    the span that is current here.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(concurrent.futures.ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in the context of the code that submitted them."""

    def submit(self, fn: Callable[..., R], /, *args: Any,
               **kwargs: Any) -> concurrent.futures.Future[R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def get_export_status() -> ExportStatus:
    """What the background exporter did since the process started, and whether the store
    is unavailable right now.

    Returns:
        An :class:`ExportStatus`: traces queued, written, dropped (the queue was full),
        failed (refused by the store, or not written when the process stopped), still
        pending, how many writes were retried, and whether (and since when) the store is
        unreachable. A trace that is made is either dropped or queued; one queued ends up
        written or failed.
    """
    return _runtime.runtime().exporter.status()
