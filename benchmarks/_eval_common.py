"""The workload and measurement shared by both sides of ``evaluation.py``.

Standard library only: the Assay side (project venv) and the mlflow side
(``benchmarks/.venv-mlflow``) import this same file, so the rows, the app and the timing are
the same for both systems.

A side script (``_assay_evaluation.py``, ``_mlflow_evaluation.py``) supplies a :class:`Side`
and calls :func:`main`, which, in a fresh working directory:

1. evaluates ``--warmup`` rows untimed (imports, the store's schema, the judge client's
   connections), into the same experiment;
2. evaluates ``--rows`` rows with the built-in Correctness judge, timing the call with
   ``time.perf_counter`` (wall) and ``time.process_time`` (CPU of the whole evaluating
   process: every thread, the judge calls' HTTP client included; the judge server is another
   process);
3. asks the judge server (``GET /stats``) how many calls it answered meanwhile, and prints
   one ``BENCH-RESULT {json}`` line on stdout.

In ``static`` mode the rows carry their outputs (scoring only); in ``predict`` mode they
carry only inputs and ``predict_fn`` (a traced function answering at once) makes them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["RESULT_PREFIX", "Outcome", "Side", "answer", "main", "make_rows"]

RESULT_PREFIX = "BENCH-RESULT "
EXPERIMENT = "evaluation-bench"
#: The app's answer to every question (predict mode) and every row's outputs (static mode).
ANSWER = "The capital of France is Paris, on the Seine."


def make_rows(n: int, *, with_outputs: bool, offset: int = 0) -> list[dict[str, Any]]:
    """``n`` rows of a small question-answering set, each with an expected response."""
    rows = []
    for i in range(offset, offset + n):
        row: dict[str, Any] = {
            "inputs": {"question": f"What is the capital of France? (variant {i})"},
            "expectations": {"expected_response": "Paris is the capital of France."},
        }
        if with_outputs:
            row["outputs"] = ANSWER
        rows.append(row)
    return rows


def answer(question: str) -> str:
    """The app of predict mode: answers at once (each side traces it)."""
    return ANSWER


class Outcome(Protocol):
    """What a side reports of one evaluation."""

    values: list[Any]  # each row's Correctness value (None where it erred)
    errors: int


class Side(Protocol):
    name: str
    version: str

    def evaluate(self, rows: list[dict[str, Any]], predict: bool) -> Outcome:
        """Evaluate ``rows`` with Correctness (with the traced app in predict mode)."""


def _judge_stats(base_url: str) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
        stats: dict[str, Any] = json.load(response)
    return stats


def _profile_threads() -> list[cProfile.Profile]:
    """A CPU-time profiler for this thread, and one for each thread started from now on
    (cProfile sees one thread only); the list grows as threads start."""
    profiles = [cProfile.Profile(time.thread_time)]
    run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            run(thread)
        finally:
            profile.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    return profiles


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--mode", choices=["static", "predict"], default="static")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the timed call into FILE: every thread, CPU time")
    return parser.parse_args(argv)


def main(make_side: Callable[[], Side], argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    base_url = os.environ["OPENAI_BASE_URL"]
    side = make_side()
    predict = args.mode == "predict"
    warm = make_rows(args.warmup, with_outputs=not predict, offset=10**6)
    rows = make_rows(args.rows, with_outputs=not predict)
    if args.warmup:
        side.evaluate(warm, predict)
    before = _judge_stats(base_url)
    profiles = _profile_threads() if args.profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiles is not None:
        profiles[0].enable()
    outcome = side.evaluate(rows, predict)
    if profiles is not None:
        profiles[0].disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    after = _judge_stats(base_url)
    if profiles is not None:
        merged = pstats.Stats(profiles[0], stream=sys.stderr)
        for profile in profiles[1:]:
            merged.add(profile)
        merged.dump_stats(args.profile)
        merged.sort_stats("tottime").print_stats(40)
        merged.sort_stats("cumulative").print_stats(60)
    result = {
        "side": side.name, "version": side.version, "mode": args.mode, "rows": args.rows,
        "wall_s": wall, "cpu_s": cpu,
        "judge_calls": after["requests"] - before["requests"],
        "judge_cpu_s": after["cpu_s"] - before["cpu_s"],
        "judge_in_flight_max": after["in_flight_max"],
        "yes": sum(1 for v in outcome.values if str(v).lower() == "yes"),
        "errors": outcome.errors,
    }
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
