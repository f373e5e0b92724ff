"""The Assay side of ``tracing_overhead.py``: the shared workload with ``@assay.trace``.

Runs with the project venv's interpreter (``src/`` first on ``PYTHONPATH``, so it measures
the working tree) in a fresh temporary working directory, so the default
``sqlite:///assay.db`` there is a new file. The reader process opens the same file with its
own store (``assay.store.open_store``), so it sees what any other process would see,
without the in-process flush that ``assay.search_traces`` does.

Profile the traced loop: ``python benchmarks/_assay_tracing.py --profile /tmp/assay.prof``
(run it from an empty directory; it prints the top functions on stderr).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from _common import PAGE_SIZE, StrFn, main

import assay

#: Assay's default destination, relative to the working directory.
TRACKING_URI = "sqlite:///assay.db"


class AssaySide:
    """``@assay.trace`` to the default SQLite store."""

    name = "assay"

    def __init__(self) -> None:
        self.version: str = getattr(assay, "__version__", "unknown")
        assay.set_tracking_uri(TRACKING_URI)

    def trace(self, fn: StrFn) -> StrFn:
        traced: StrFn = assay.trace(fn)
        return traced

    def disable(self) -> None:
        assay.tracing.disable()

    def enable(self) -> None:
        assay.tracing.enable()

    def set_experiment(self, name: str) -> str:
        experiment_id: str = assay.set_experiment(name).experiment_id
        return experiment_id

    def flush(self) -> None:
        assay.flush_trace_async_logging()


class AssayReader:
    """``Store.search_traces`` on a store of this process's own, PAGE_SIZE traces a page."""

    def __init__(self, uri: str) -> None:
        from assay.store import open_store

        self.store = open_store(uri)

    def page(self, experiment_id: str, token: str | None,
             include_spans: bool) -> tuple[Sequence[Any], str | None]:
        traces = self.store.search_traces([experiment_id], max_results=PAGE_SIZE,
                                          page_token=token, include_spans=include_spans)
        return traces, traces.token

    def n_spans(self, trace: Any) -> int:
        return len(trace.data.spans)


if __name__ == "__main__":
    main(AssaySide, AssayReader, "assay.db", default_interval=0.05, default_timeout=60.0)
