"""Feedback latency: ``assay.log_feedback`` vs ``mlflow.log_feedback`` to the local SQLite store.

Each side runs in a fresh process, in a fresh temporary working directory (so the SQLite
default, ``sqlite:///assay.db`` / ``sqlite:///mlflow.db``, is a new file), and:

1. records ``--traces`` traces (one span each) and flushes them;
2. logs ``--warmup`` untimed feedbacks, then times ``--calls`` calls of ``log_feedback`` on
   traces picked at random (the same seeded sequence on both sides): thumbs (bool), stars
   (int 1-5) and comments (str with a rationale) in turn, each from a HUMAN source. Every
   call is timed alone with ``time.perf_counter``; the figures are its percentiles;
3. times ``--fresh`` calls of "trace, then give feedback at once": the feedback call right
   after the traced call returns. Assay needs nothing more (it writes the trace first when
   it is still queued); mlflow needs ``mlflow.flush_trace_async_logging()`` first, which is
   counted in its time. mlflow is also tried without the flush on ``--fresh`` other traces,
   to count how often that fails ("Trace ... not found");
4. reads every trace back and counts the stored assessments (nothing may be lost).

Assay runs with this interpreter (the project venv, ``src/`` first on ``PYTHONPATH``);
mlflow runs in ``benchmarks/.venv-mlflow``, created by ``tracing_overhead.py``'s helper on
first use. Telemetry is off for mlflow.

Usage::

    python benchmarks/feedback.py                    # 500 calls, 3 runs of each side
    python benchmarks/feedback.py --runs 1 --skip-mlflow
    python benchmarks/feedback.py --json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULT_PREFIX = "FEEDBACK-RESULT "
PERCENTILES = (50, 95, 99)


# -- the child process (one side) ----------------------------------------------------------

def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, mean and max of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    out = {f"p{p}": 1000 * cuts[p - 1] for p in PERCENTILES}
    out["mean"] = 1000 * statistics.fmean(ordered)
    out["max"] = 1000 * ordered[-1]
    return out


def run_child(role: str, traces: int, calls: int, warmup: int, fresh: int,
              seed: int) -> dict[str, Any]:
    """Measure one side in this process (see the module docstring)."""
    lib: Any
    if role == "assay":
        import assay as lib
        from assay.entities import AssessmentSource

        version = lib.__version__
        lib.set_tracking_uri("sqlite:///assay.db")
    else:
        import mlflow as lib
        from mlflow.entities import AssessmentSource

        version = lib.__version__
        lib.set_tracking_uri("sqlite:///mlflow.db")
    experiment_id = lib.set_experiment("bench-feedback").experiment_id

    @lib.trace
    def answer(question: str) -> str:
        return question[::-1]

    def traced() -> str:
        answer("What is the capital of France?")
        trace_id: str = lib.get_last_active_trace_id()
        return trace_id

    def give_feedback(trace_id: str, i: int) -> None:
        kind = i % 3
        lib.log_feedback(
            trace_id=trace_id,
            name=("thumbs", "stars", "comment")[kind],
            value=(i % 2 == 0, i % 5 + 1, f"Answer {i} missed the point")[kind],
            rationale="The user explained why" if kind == 2 else None,
            source=AssessmentSource(source_type="HUMAN", source_id=f"user-{i % 50}"))

    trace_ids = [traced() for _ in range(traces)]
    lib.flush_trace_async_logging()
    rng = random.Random(seed)
    for i in range(warmup):
        give_feedback(rng.choice(trace_ids), i)

    samples = []
    for i in range(calls):
        trace_id = rng.choice(trace_ids)
        start = time.perf_counter()
        give_feedback(trace_id, i)
        samples.append(time.perf_counter() - start)

    fresh_samples = []
    for i in range(fresh):
        trace_id = traced()
        start = time.perf_counter()
        if role == "mlflow":
            lib.flush_trace_async_logging()  # without it the trace may not be there yet
        give_feedback(trace_id, i)
        fresh_samples.append(time.perf_counter() - start)

    unflushed_failures = 0
    if role == "mlflow":
        for i in range(fresh):
            trace_id = traced()
            try:
                give_feedback(trace_id, i)
            except Exception:
                unflushed_failures += 1
        lib.flush_trace_async_logging()

    expected = warmup + calls + fresh + (fresh - unflushed_failures if role == "mlflow"
                                         else 0)
    return {
        "system": role, "version": version, "traces": traces, "calls": calls,
        "fresh_calls": fresh, "python": sys.version.split()[0],
        "random_trace_ms": percentiles(samples),
        "fresh_trace_ms": percentiles(fresh_samples) if fresh_samples else None,
        "unflushed_failures": unflushed_failures if role == "mlflow" else None,
        "stored": count_assessments(role, lib, experiment_id), "expected": expected,
    }


def count_assessments(role: str, lib: Any, experiment_id: str) -> int:
    """The assessments stored in the experiment, read back through the side's client."""
    total, token = 0, None
    while True:
        if role == "assay":
            page = lib.AssayClient().search_traces([experiment_id], max_results=500,
                                                   page_token=token, include_spans=False)
        else:
            page = lib.MlflowClient().search_traces(locations=[experiment_id],
                                                    max_results=500, page_token=token,
                                                    include_spans=False)
        total += sum(len(trace.info.assessments or ()) for trace in page)
        token = page.token
        if not token or not page:
            return total


# -- the parent process -------------------------------------------------------------------

def run_side(label: str, python: Path, env: dict[str, str], args: argparse.Namespace,
             log: Callable[[str], None]) -> dict[str, Any] | str:
    """One child run in a fresh directory: its result, or why it failed."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-feedback-{label}-"))
    command = [str(python), str(HERE / "feedback.py"), "--role", label,
               "--traces", str(args.traces), "--calls", str(args.calls),
               "--warmup", str(args.warmup), "--fresh", str(args.fresh),
               "--seed", str(args.seed)]
    try:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=1800)
    except subprocess.TimeoutExpired:
        return "timed out"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-5:]
        return f"exit code {done.returncode}: " + " | ".join(tail)
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX):])
    r = result["random_trace_ms"]
    log(f"  {label}: p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, p99 {r['p99']:.2f} ms; "
        f"stored {result['stored']} of {result['expected']}")
    return result


def cell(values: Sequence[float]) -> str:
    if not values:
        return "\u2013"
    text = f"{statistics.median(values):.2f}"
    if len(values) > 1:
        text += f" ({min(values):.2f}\u2013{max(values):.2f})"
    return text


def markdown(results: dict[str, list[dict[str, Any]]], failures: dict[str, list[str]],
             args: argparse.Namespace, info: dict[str, Any]) -> str:
    labels = [label for label in ("assay", "mlflow") if results.get(label)]
    titles = {"assay": "Assay", "mlflow": "mlflow"}
    out = [f"{args.calls} `log_feedback` calls on random traces of {args.traces}, "
           f"{args.fresh} right after a fresh trace; {args.runs} run(s) per side; cells are "
           "the median over runs (min\u2013max), in milliseconds.", ""]
    header = "| figure | " + " | ".join(titles[label] for label in labels)
    if len(labels) == 2:
        header += " | mlflow / Assay"
    out += [header + " |", "|---|" + "---|" * (len(labels) + (len(labels) == 2))]
    rows: list[tuple[str, str, str]] = [
        (f"random trace, {stat}", "random_trace_ms", stat)
        for stat in ("p50", "p95", "p99", "mean", "max")]
    rows += [(f"fresh trace (mlflow: + flush), {stat}", "fresh_trace_ms", stat)
             for stat in ("p50", "p95", "p99")]
    for title, key, stat in rows:
        per_label = {label: [r[key][stat] for r in results[label] if r.get(key)]
                     for label in labels}
        line = f"| {title} | " + " | ".join(cell(per_label[label]) for label in labels)
        if len(labels) == 2:
            a, m = per_label["assay"], per_label["mlflow"]
            ratio = (statistics.median(m) / statistics.median(a)) if a and m else None
            line += f" | {'' if ratio is None else f'{ratio:.1f}x'}"
        out.append(line + " |")
    stored = {label: f"{sum(r['stored'] for r in results[label])} of "
                     f"{sum(r['expected'] for r in results[label])}" for label in labels}
    out.append("| assessments stored / logged | "
               + " | ".join(stored[label] for label in labels)
               + (" | |" if len(labels) == 2 else " |"))
    if "mlflow" in labels:
        failed = [r["unflushed_failures"] for r in results["mlflow"]]
        out += ["", f"mlflow without the flush, right after the traced call: "
                    f"{sum(failed)} of {args.fresh * len(failed)} `log_feedback` calls failed."]
    for label, errors in failures.items():
        for error in errors:
            out.append(f"\n{label} failed: {error}")
    m = info["machine"]
    out += ["", f"Machine: {m['cores']} cores, {m['cpu'] or '?'}, Python {m['python']}, "
                f"load {m['load_avg_1m']:.2f} at start. Calibration loop: "
                f"{info['calibration']['start']['median_ms']:.1f} ms at start, "
                f"{info['calibration']['end']['median_ms']:.1f} ms at end. {info['mlflow']}."]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["parent", "assay", "mlflow"], default="parent")
    parser.add_argument("--traces", type=int, default=200, help="traces to give feedback on")
    parser.add_argument("--calls", type=int, default=500, help="timed calls (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--fresh", type=int, default=50,
                        help="calls right after a fresh traced call (default 50)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the trace choice")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure Assay only")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role != "parent":
        result = run_child(args.role, args.traces, args.calls, args.warmup, args.fresh,
                           args.seed)
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        return 0
    # The parent reuses the tracing benchmark's environment helpers (mlflow's venv, the
    # children's environment variables, the machine's description).
    from tracing_overhead import (
        DEFAULT_MLFLOW_VENV,
        assay_env,
        calibrate,
        ensure_mlflow_venv,
        log,
        machine,
        mlflow_env,
    )

    info: dict[str, Any] = {"machine": machine(), "calibration": {"start": calibrate()},
                            "mlflow": "mlflow skipped (--skip-mlflow)"}
    sides: list[tuple[str, Path, dict[str, str]]] = [
        ("assay", Path(sys.executable), assay_env())]
    if not args.skip_mlflow:
        python, why = ensure_mlflow_venv(DEFAULT_MLFLOW_VENV)
        info["mlflow"] = why
        if python is None:
            log(f"Skipping mlflow: {why}")
        else:
            sides.append(("mlflow", python, mlflow_env("defaults")))
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in sides}
    failures: dict[str, list[str]] = {label: [] for label, _, _ in sides}
    for run in range(1, args.runs + 1):
        for label, python, env in sides:
            log(f"run {run}/{args.runs}: {label} ...")
            outcome = run_side(label, python, env, args, log)
            if isinstance(outcome, str):
                failures[label].append(outcome)
            else:
                results[label].append(outcome)
    info["calibration"]["end"] = calibrate()
    if args.json:
        print(json.dumps({"info": info, "results": results, "failures": failures}, indent=1))
    else:
        print(markdown(results, failures, args, info))
    lost = any(r["stored"] != r["expected"] for runs in results.values() for r in runs)
    return 1 if lost or any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
