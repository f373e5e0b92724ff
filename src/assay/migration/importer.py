"""Copying an MLflow tracking store into Assay's: experiments, traces with their spans, tags,
metadata and assessments (sources, overrides and history).

Each MLflow experiment goes into the Assay experiment of the same name (created with its
tags when there is none). Traces keep their ids and are read oldest first, a page at a
time; a page's traces that Assay has already are skipped, the others are read whole and
written with one ``log_traces`` (one transaction), assessments with their ids, valid flags
and what they override. So running the import again copies nothing twice, and an import
that was stopped goes on from the first page it had not finished. A trace already copied
gets the assessments MLflow has added to it since (by id); a change to one already copied
is not copied again.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from assay.entities import Trace
from assay.entities.assessment import Assessment
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.migration.mlflow_source import SkippedTrace, Source, SourceExperiment
from assay.rules import experiment_named
from assay.store.base import Store

__all__ = ["ImportSummary", "import_mlflow", "progress_stream"]

#: Traces read and written at a time (one transaction each).
DEFAULT_BATCH = 200
# Trace ids safe to name inside a filter string; others are looked up one by one.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


@dataclass
class ImportSummary:
    """What an import did."""

    experiments_created: int = 0
    experiments_existing: int = 0
    traces_copied: int = 0
    traces_skipped: int = 0
    spans_copied: int = 0
    assessments_copied: int = 0
    assessments_skipped: int = 0
    #: Traces that could not be read (id, reason); a later run tries them again.
    failed: list[SkippedTrace] = field(default_factory=list)
    seconds: float = 0.0
    #: Whether it stopped at ``limit`` before the end.
    stopped_at_limit: bool = False

    def lines(self) -> list[str]:
        """The summary as lines of text."""
        rate = self.traces_copied / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"Experiments: {self.experiments_created} created, "
            f"{self.experiments_existing} already in Assay",
            f"Traces:      {self.traces_copied} copied, {self.traces_skipped} already in "
            f"Assay, {len(self.failed)} failed",
            f"Spans:       {self.spans_copied} copied",
            f"Assessments: {self.assessments_copied} copied, {self.assessments_skipped} "
            "skipped (already in Assay, or of a kind Assay does not keep)",
            f"Time:        {self.seconds:.1f}s ({rate:.0f} traces/s)",
        ]
        for skipped in self.failed[:20]:
            out.append(f"  failed: {skipped.trace_id}: {skipped.reason}")
        if len(self.failed) > 20:
            out.append(f"  ... and {len(self.failed) - 20} more")
        if self.stopped_at_limit:
            out.append("Stopped at --limit; run the same command again to go on.")
        return out


class _Progress:
    """A one-line progress display on a terminal: traces done of the total, rate, time left."""

    def __init__(self, total: int | None, stream: TextIO | None) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.started = time.monotonic()
        self._shown = 0.0

    def advance(self, count: int, experiment: str) -> None:
        self.done += count
        now = time.monotonic()
        if self.stream is not None and (now - self._shown > 0.1 or self.done == self.total):
            self._shown = now
            self.stream.write("\r" + self.line(experiment) + "\x1b[K")
            self.stream.flush()

    def line(self, experiment: str) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total is None:
            return f"Importing {experiment[:40]}: {self.done} traces · {rate:.0f} traces/s"
        width = 24
        filled = min(width, round(width * self.done / self.total)) if self.total else width
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        eta = "" if self.done >= self.total or math.isinf(left) else f" · {left:.0f}s left"
        return (f"Importing [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                f" traces · {rate:.0f}/s{eta}")

    def close(self) -> None:
        if self.stream is not None and self.done:
            self.stream.write("\n")
            self.stream.flush()


def progress_stream(progress: bool | None) -> TextIO | None:
    """Where the progress line goes: standard error on a terminal (or when ``progress`` is
    True), nowhere in a pipe or a file (or when it is False)."""
    if progress is False:
        return None
    stream = sys.stderr
    if progress is None and not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return stream


def import_mlflow(source: Source, store: Store, *,
                  experiment_names: Sequence[str] | None = None,
                  since_ms: int | None = None, limit: int | None = None,
                  batch_size: int = DEFAULT_BATCH, progress: bool | None = None,
                  on_batch: Callable[[ImportSummary], None] | None = None) -> ImportSummary:
    """Copy ``source`` into ``store`` (see the module doc); the summary of what was done.

    Args:
        experiment_names: only these experiments (NotFoundError naming one MLflow lacks);
            default every experiment that is not deleted.
        since_ms: only traces that started at or after this time (ms since the epoch).
        limit: stop once this many traces are copied (a later run goes on from there).
        batch_size: traces a transaction.
        progress: show a progress line on standard error (default: on a terminal only).
        on_batch: called with the summary so far after each batch is written.
    """
    started = time.monotonic()
    summary = ImportSummary()
    experiments = _chosen(source.experiments(), experiment_names)
    total: int | None = 0
    for experiment in experiments:
        count = source.count_traces(experiment, since_ms)
        total = None if total is None or count is None else total + count
    shown = _Progress(total, progress_stream(progress))
    try:
        for experiment in experiments:
            existing = store.find_experiment_by_name(experiment.name)
            if existing is None:
                try:
                    target_id = store.create_experiment(experiment.name, experiment.tags)
                    summary.experiments_created += 1
                except AlreadyExistsError:  # created meanwhile by someone else
                    target_id = experiment_named(store, experiment.name).experiment_id
                    summary.experiments_existing += 1
            else:
                target_id = existing.experiment_id
                summary.experiments_existing += 1
            for page in source.pages(experiment, since_ms, batch_size):
                ids = page.trace_ids
                if limit is not None:
                    room = limit - summary.traces_copied
                    if room <= 0:
                        summary.stopped_at_limit = True
                        break
                present = stored_assessment_ids(store, target_id, ids)
                summary.assessments_skipped += page.unreadable_assessments
                missing = [trace_id for trace_id in ids if trace_id not in present]
                if limit is not None and len(missing) > room:
                    missing = missing[:room]
                    summary.stopped_at_limit = True
                    ids = ids[:ids.index(missing[-1]) + 1] if missing else []
                _add_new_assessments(store, target_id, ids, present, page.assessments,
                                     summary)
                summary.traces_skipped += len(ids) - len(missing)
                if missing:
                    read = source.read_traces(experiment, missing, target_id)
                    traces = [t for t in read if isinstance(t, Trace)]
                    summary.failed += [t for t in read if isinstance(t, SkippedTrace)]
                    store.log_traces(traces)
                    summary.traces_copied += len(traces)
                    summary.spans_copied += sum(len(t.data.spans) for t in traces)
                    summary.assessments_copied += sum(len(t.info.assessments)
                                                      for t in traces)
                summary.seconds = time.monotonic() - started
                shown.advance(len(ids), experiment.name)
                if on_batch is not None:
                    on_batch(summary)
                if summary.stopped_at_limit:
                    break
            if summary.stopped_at_limit:
                break
    finally:
        shown.close()
        summary.seconds = time.monotonic() - started
    return summary


def _chosen(experiments: list[SourceExperiment],
            names: Sequence[str] | None) -> list[SourceExperiment]:
    if not names:
        return [e for e in experiments if not e.deleted]
    by_name = {e.name: e for e in experiments}
    missing = [name for name in names if name not in by_name]
    if missing:
        known = ", ".join(repr(e.name) for e in experiments if not e.deleted)
        raise NotFoundError(f"MLflow has no experiment named {missing[0]!r} (it has "
                            f"{known or 'none'})")
    return [by_name[name] for name in dict.fromkeys(names)]


def stored_assessment_ids(store: Store, experiment_id: str,
                          trace_ids: Sequence[str]) -> dict[str, set[str]]:
    """Which of ``trace_ids`` the store has in the experiment, each with the ids of its
    own assessments."""
    plain = [trace_id for trace_id in trace_ids if _PLAIN_ID.fullmatch(trace_id)]
    found: dict[str, set[str]] = {}
    if plain:
        quoted = ", ".join(f"'{trace_id}'" for trace_id in plain)
        page = store.search_traces([experiment_id], max_results=len(plain),
                                   include_spans=False,
                                   filter_string=f"trace.request_id IN ({quoted})")
        for trace in page:
            found[trace.info.trace_id] = _own_ids(trace)
    for trace_id in trace_ids:
        if trace_id in found or trace_id in plain:
            continue
        try:
            info = store.get_trace_info(trace_id)
        except (NotFoundError, InvalidParameterError):  # not stored, or an id Assay refuses
            continue
        found[trace_id] = {a.assessment_id for a in info.assessments
                           if a.assessment_id and a.trace_id == trace_id}
    return found


def _own_ids(trace: Trace) -> set[str]:
    return {a.assessment_id for a in trace.info.assessments
            if a.assessment_id is not None and a.trace_id == trace.info.trace_id}


def _add_new_assessments(store: Store, experiment_id: str, trace_ids: Sequence[str],
                         present: dict[str, set[str]],
                         assessments: dict[str, list[Assessment]],
                         summary: ImportSummary) -> None:
    """Copy the assessments MLflow has added to traces already copied (those whose ids
    Assay does not have), keeping their ids: each such trace is written again with them,
    its header as stored."""
    updates: list[Trace] = []
    for trace_id in trace_ids:
        if trace_id not in present:
            continue
        mlflow_side = assessments.get(trace_id, [])
        new = [a for a in mlflow_side if a.assessment_id not in present[trace_id]]
        summary.assessments_skipped += len(mlflow_side) - len(new)
        if not new:
            continue
        info = store.get_trace_info(trace_id)
        updates.append(Trace(info=dataclasses.replace(info, experiment_id=experiment_id,
                                                      assessments=new)))
        summary.assessments_copied += len(new)
    if updates:
        store.log_traces(updates)
