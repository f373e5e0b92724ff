"""The workload and measurement code shared by both sides of ``tracing_overhead.py``.

Standard library only: the same file is imported by the Assay side (project venv) and
the mlflow side (``benchmarks/.venv-mlflow``), so the workload, the timing and the
readability polling are byte-for-byte the same for both systems.

A side script (``_assay_tracing.py``, ``_mlflow_tracing.py``) supplies a :class:`Side`
(how to decorate, disable, enable, pick an experiment and flush) and a :class:`Reader`
(how another process pages through an experiment's traces), then calls :func:`main`.
It runs in two roles:

* ``app`` (default): time the loops, start a reader process, tell it when the loop
  ended, wait for its report, flush, ask it for the completeness check, and print one
  ``BENCH-RESULT {json}`` line on stdout.
* ``reader``: open the store named by ``--uri`` and answer the app over stdin/stdout
  (one JSON object per line).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

__all__ = ["RESULT_PREFIX", "LoopTime", "Reader", "Side", "main", "make_workload", "time_loop"]

#: The prefix of the one stdout line that carries a side's results.
RESULT_PREFIX = "BENCH-RESULT "
#: The argument every traced call gets (a small string, like a short user question).
PROMPT = "What is the capital of France?"
#: Spans per trace in the workload (outer -> middle -> inner).
SPANS_PER_TRACE = 3
#: A poll starts at most every max(interval, DUTY_FACTOR x the last poll's duration).
DUTY_FACTOR = 4.0
#: Page size when a reader pages through an experiment (mlflow's REST limit is 500).
PAGE_SIZE = 500

StrFn = Callable[[str], str]


class Side(Protocol):
    """One tracing system, as the app process uses it."""

    name: str
    version: str

    def trace(self, fn: StrFn) -> StrFn:
        """Decorate a function (``@assay.trace`` / ``@mlflow.trace``)."""

    def disable(self) -> None:
        """Turn tracing off process-wide."""

    def enable(self) -> None:
        """Turn tracing back on."""

    def set_experiment(self, name: str) -> str:
        """Make ``name`` the active experiment (creating it) and return its id."""

    def flush(self) -> None:
        """Block until every finished trace has been handed to the store."""


class Reader(Protocol):
    """Another process's view of the store: one page of an experiment's traces."""

    def page(self, experiment_id: str, token: str | None,
             include_spans: bool) -> tuple[Sequence[Any], str | None]:
        """Up to PAGE_SIZE traces and the next page's token (None at the end)."""

    def n_spans(self, trace: Any) -> int:
        """How many spans a trace returned by ``page(include_spans=True)`` has."""


# -- the workload ----------------------------------------------------------------------

def make_workload(decorate: Callable[[StrFn], StrFn]) -> StrFn:
    """Three functions, outer -> middle -> inner, each decorated; returns outer."""

    @decorate
    def inner(text: str) -> str:
        return text[:16] + "!"

    @decorate
    def middle(text: str) -> str:
        return inner(text + " (middle)")

    @decorate
    def outer(text: str) -> str:
        return middle(text + " (outer)")

    return outer


@dataclass
class LoopTime:
    """One timed loop: wall seconds, and CPU seconds of this thread and of the process."""

    wall: float
    thread_cpu: float
    process_cpu: float


def time_loop(fn: StrFn, n: int) -> LoopTime:
    """Time ``n`` calls of ``fn`` in this (the application) thread.

    The wall time is the figure; the CPU times tell where it went: wall minus this
    thread's CPU is time spent waiting (for the GIL, held by background export threads),
    and process CPU minus thread CPU is what those threads did meanwhile.
    """
    prompt = PROMPT
    cpu0, proc0 = time.thread_time(), time.process_time()
    start = time.perf_counter()
    for _ in range(n):
        fn(prompt)
    wall = time.perf_counter() - start
    return LoopTime(wall, time.thread_time() - cpu0, time.process_time() - proc0)


def _warm(fn: StrFn, n: int) -> None:
    for _ in range(n):
        fn(PROMPT)


# -- the reader process ----------------------------------------------------------------

def count_traces(reader: Reader, experiment_id: str) -> int:
    """How many traces of the experiment the store returns (headers only)."""
    total, token = 0, None
    while True:
        items, token = reader.page(experiment_id, token, False)
        total += len(items)
        if not token or not items:
            return total


def check_traces(reader: Reader, experiment_id: str) -> dict[str, Any]:
    """Re-read every trace with its spans: how many, and how many lack spans."""
    total = incomplete = spans = 0
    histogram: dict[str, int] = {}
    token = None
    start = time.perf_counter()
    while True:
        items, token = reader.page(experiment_id, token, True)
        for trace in items:
            n = reader.n_spans(trace)
            total += 1
            spans += n
            histogram[str(n)] = histogram.get(str(n), 0) + 1
            if n < SPANS_PER_TRACE:
                incomplete += 1
        if not token or not items:
            break
    return {"traces": total, "spans": spans, "incomplete": incomplete,
            "spans_per_trace": histogram, "read_s": time.perf_counter() - start}


def poll_until_readable(reader: Reader, experiment_id: str, expected: int, t_end: float,
                        interval: float, timeout: float, stall: float) -> dict[str, Any]:
    """Count the experiment's traces every ``interval`` s from the loop's end (``t_end``,
    wall clock) until all ``expected`` are readable, ``timeout`` s have passed, or the count
    has not moved for ``stall`` s. A poll that takes longer than ``interval / DUTY_FACTOR``
    stretches the period, so the reader never takes more than a quarter of a core from the
    writer on a 2-core machine. Times are measured at the end of the poll that saw them,
    so they include the poll itself (an upper bound on when another reader could see them).
    """
    timeline: list[list[float]] = []
    durations: list[float] = []
    last = -1
    last_change = time.time()
    all_s: float | None = None
    stopped = "timeout"
    first: int | None = None
    while True:
        poll_start = time.time()
        count = count_traces(reader, experiment_id)
        now = time.time()
        durations.append(now - poll_start)
        if first is None:
            first = count
        if count != last:
            timeline.append([round(now - t_end, 4), count])
            last, last_change = count, now
        if count >= expected:
            all_s, stopped = now - t_end, "all"
            break
        if now - t_end > timeout:
            break
        if now - last_change > stall:
            stopped = "stall"
            break
        # At most a quarter of a core on polling, however slow the store's search gets.
        period = max(interval, DUTY_FACTOR * durations[-1])
        time.sleep(max(0.0, period - (time.time() - poll_start)))
    return {
        "expected": expected,
        "readable_at_first_poll": first,
        "readable_max": last,
        "all_readable_s": all_s,
        "last_new_s": timeline[-1][0] if timeline and last > 0 else None,
        "stopped": stopped,
        "polls": len(durations),
        "poll_ms_mean": 1000 * sum(durations) / len(durations),
        "poll_ms_max": 1000 * max(durations),
        "timeline": timeline,
    }


def _send(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _receive(stream: IO[str]) -> dict[str, Any]:
    line = stream.readline()
    if not line:
        raise RuntimeError("the other process closed the pipe (see its stderr)")
    message: dict[str, Any] = json.loads(line)
    return message


def serve_reader(make_reader: Callable[[str], Reader], uri: str) -> None:
    """The reader process: open the store, say ready, then answer the app's commands."""
    reader = make_reader(uri)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol
    experiment_id: str | None = None
    _send(out, {"ready": True})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        command: dict[str, Any] = json.loads(line)
        if command["cmd"] == "poll":
            experiment_id = command["experiment_id"]
            count_traces(reader, experiment_id)  # warm this query path before the clock
            report = poll_until_readable(
                reader, experiment_id, command["expected"], command["t_end"],
                command["interval"], command["timeout"], command["stall"])
            _send(out, report)
        elif command["cmd"] == "final":
            assert experiment_id is not None
            report = check_traces(reader, experiment_id)
            report["count_headers"] = count_traces(reader, experiment_id)
            _send(out, report)
        elif command["cmd"] == "quit":
            return


# -- the app process -------------------------------------------------------------------

@dataclass
class Options:
    """What ``tracing_overhead.py`` passes to a side."""

    traces: int
    warmup: int
    poll_interval: float
    timeout: float
    stall: float
    profile: str | None


def _parse(argv: Sequence[str] | None, default_interval: float,
           default_timeout: float) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["app", "reader"], default="app")
    parser.add_argument("--uri", help="reader role: the store's tracking URI")
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=default_interval)
    parser.add_argument("--timeout", type=float, default=default_timeout,
                        help="seconds after the loop to wait for every trace to be readable")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="stop waiting once no new trace became readable for this long")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the traced loop into FILE (inflates its µs/span)")
    return parser.parse_args(argv)


def run_app(side: Side, script: str, uri: str, options: Options,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time plain / disabled / enabled loops and how long until every trace is readable.

    ``uri`` is the absolute tracking URI the reader process opens; ``script`` is the side
    script, started again with ``--role reader``.
    """
    n, warm = options.traces, options.warmup
    spans = SPANS_PER_TRACE * n
    result: dict[str, Any] = {"system": side.name, "version": side.version, "traces": n,
                              "spans": spans, "python": sys.version.split()[0]}
    result.update(extra or {})

    plain = make_workload(lambda fn: fn)
    _warm(plain, warm)
    loop_plain = time_loop(plain, n)

    traced = make_workload(side.trace)
    side.disable()
    _warm(traced, warm)
    loop_disabled = time_loop(traced, n)
    side.enable()

    side.set_experiment("bench-warmup")
    _warm(traced, warm)
    side.flush()
    experiment_id = side.set_experiment("bench")

    reader = subprocess.Popen(
        [sys.executable, script, "--role", "reader", "--uri", uri],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdin is not None and reader.stdout is not None
    _receive(reader.stdout)  # ready: the reader has opened the store and sits on stdin
    gc.collect()

    profiler = cProfile.Profile() if options.profile else None
    if profiler is not None:
        profiler.enable()
    loop_enabled = time_loop(traced, n)
    t_end = time.time()
    if profiler is not None:
        profiler.disable()

    _send(reader.stdin, {"cmd": "poll", "experiment_id": experiment_id, "expected": n,
                         "t_end": t_end, "interval": options.poll_interval,
                         "timeout": options.timeout, "stall": options.stall})
    readable = _receive(reader.stdout)
    start = time.perf_counter()
    side.flush()
    flush_s = time.perf_counter() - start
    _send(reader.stdin, {"cmd": "final"})
    final = _receive(reader.stdout)
    _send(reader.stdin, {"cmd": "quit"})
    reader.stdin.close()
    reader.wait(timeout=60)

    if profiler is not None and options.profile:
        profiler.dump_stats(options.profile)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)

    loops = {"plain": loop_plain, "disabled": loop_disabled, "enabled": loop_enabled}
    result.update({
        "loop_s": {name: loop.wall for name, loop in loops.items()},
        "us_per_span": {name: 1e6 * loop.wall / spans for name, loop in loops.items()},
        "thread_cpu_us_per_span": {name: 1e6 * loop.thread_cpu / spans
                                   for name, loop in loops.items()},
        "process_cpu_us_per_span": {name: 1e6 * loop.process_cpu / spans
                                    for name, loop in loops.items()},
        "profiled": bool(profiler),
        "readable": readable,
        "flush_after_poll_s": flush_s,
        # omitted: stored (the header search returns them) but missing from the search
        # with spans, as mlflow does for some traces whose spans were dropped.
        "final": {**final, "lost": n - final["count_headers"],
                  "omitted": max(0, final["count_headers"] - final["traces"])},
    })
    return result


def main(make_side: Callable[[], Side], make_reader: Callable[[str], Reader],
         db_file: str, default_interval: float, default_timeout: float,
         extra: Callable[[], dict[str, Any]] | None = None,
         argv: Sequence[str] | None = None) -> None:
    """Entry point of a side script (see the module docstring)."""
    args = _parse(argv, default_interval, default_timeout)
    if args.role == "reader":
        serve_reader(make_reader, args.uri)
        return
    absolute_uri = "sqlite:///" + str(Path(os.getcwd(), db_file).resolve())
    options = Options(traces=args.traces, warmup=args.warmup,
                      poll_interval=args.poll_interval, timeout=args.timeout,
                      stall=args.stall, profile=args.profile)
    side = make_side()
    script = str(Path(sys.argv[0]).resolve())
    result = run_app(side, script, absolute_uri, options, extra() if extra else None)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
