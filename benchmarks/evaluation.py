"""Evaluation throughput: ``assay.genai.evaluate`` vs ``mlflow.genai.evaluate`` (mlflow 3.17.2)
with the built-in Correctness judge, against a local OpenAI-compatible judge server that
answers in a fixed time, in the same run.

The judge server (``_judge_server.py``) runs as its own process for the whole run and answers
every call after ``--latency-ms`` (default 50). Each side then evaluates ``--rows`` rows
(default 1,000) in a fresh process and working directory (a new SQLite store), after an
untimed warm-up of 20 rows, in two modes:

* **static**: the rows carry their outputs (scoring only);
* **predict**: the rows carry only inputs and ``predict_fn`` is a traced function that
  answers at once (so each row's trace is made by the app).

It reports, per side, configuration and mode: the wall time of the ``evaluate`` call; the
**floor**, rows x latency / concurrency (the time the judge calls take if nothing else
does); the ratio to the floor; and the evaluating process's CPU time per row
(``time.process_time``: every thread of that process, the HTTP client included; the judge
server's CPU is in another process and reported apart).

mlflow runs in two configurations: its **defaults** (no environment variables: a predict
rate limit that starts at 10 calls/s and adapts, pools of 40) and **10/10**, Assay's
concurrency: ``MLFLOW_GENAI_EVAL_MAX_WORKERS=10`` (both of its pools), with its rate limits
off (``MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT=0``, ``MLFLOW_GENAI_EVAL_SCORER_RATE_LIMIT=0``).
Assay runs at its defaults, ``max_workers=10`` and ``scorer_workers=10``.

Usage::

    python benchmarks/evaluation.py                       # 1,000 rows, 3 runs, all
    python benchmarks/evaluation.py --skip-mlflow --runs 5
    python benchmarks/evaluation.py --modes static --mlflow-configs 10/10 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracing_overhead import (
    DEFAULT_MLFLOW_VENV,
    assay_env,
    calibrate,
    ensure_mlflow_venv,
    log,
    machine,
)

HERE = Path(__file__).resolve().parent
RESULT_PREFIX = "BENCH-RESULT "

#: The issue's targets for Assay.
TARGET_FLOOR_RATIO = 1.3
TARGET_CPU_MS_PER_ROW = 5.0
#: Assay's concurrency (evaluate's defaults): predict_fn calls and scorer calls at once.
ASSAY_WORKERS = 10

#: Extra environment of each mlflow configuration.
MLFLOW_CONFIGS: dict[str, dict[str, str]] = {
    "defaults": {},
    "10/10": {"MLFLOW_GENAI_EVAL_MAX_WORKERS": "10",
              "MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS": "10",
              "MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT": "0",
              "MLFLOW_GENAI_EVAL_SCORER_RATE_LIMIT": "0"},
}
TIMES = "\u00d7"


@dataclass
class Job:
    label: str
    python: Path
    script: Path
    env: dict[str, str]
    mode: str
    concurrency: int
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def start_judge(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The judge server process and its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_judge_server.py"), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit(f"the judge server did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def judge_env(base: dict[str, str], base_url: str) -> dict[str, str]:
    env = dict(base)
    env.update({"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench-key",
                "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env.pop("OPENAI_API_BASE", None)
    return env


def mlflow_env(config: str, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLFLOW_")}
    env = judge_env(env, base_url)
    env.update(MLFLOW_CONFIGS[config])
    return env


def run_job(job: Job, args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    stderr_path = workdir / "stderr.log"
    timeout = args.defaults_timeout if job.label == "mlflow defaults" else args.timeout
    command = [str(job.python), str(job.script), "--rows", str(args.rows),
               "--warmup", str(args.warmup), "--mode", job.mode]
    try:
        with stderr_path.open("w") as stderr:
            done = subprocess.run(command, cwd=workdir, env=job.env, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done_rows = _rows_scored(workdir)
        job.failures.append(f"not done after {timeout:g} s ({done_rows})")
        log(f"  {job.label}: not done after {timeout:g} s ({done_rows}); see {stderr_path}")
        return
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = stderr_path.read_text().strip().splitlines()[-5:]
        job.failures.append(f"exit code {done.returncode}: " + " | ".join(tail))
        log(f"  {job.label} failed; see {stderr_path}")
        return
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX):])
    floor = args.rows * args.latency_ms / 1000 / job.concurrency
    result["floor_s"] = floor
    result["floor_ratio"] = result["wall_s"] / floor
    result["cpu_ms_per_row"] = 1000 * result["cpu_s"] / args.rows
    result["load_avg_1m"] = os.getloadavg()[0]
    job.results.append(result)
    log(f"  {job.label}: {result['wall_s']:.2f} s ({result['floor_ratio']:.2f}{TIMES} the "
        f"floor), {result['cpu_ms_per_row']:.2f} ms CPU/row, {result['judge_calls']} judge "
        f"calls, {result['errors']} errors, load {result['load_avg_1m']:.1f}")
    if args.keep:
        log(f"  kept {workdir}")
    else:
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
        workdir.rmdir()


def _rows_scored(workdir: Path) -> str:
    """How far a side that was stopped got: the traces and Feedback in its store (the
    warm-up's included)."""
    import sqlite3

    for name, traces, feedback in (
            ("mlflow.db", "SELECT count(*) FROM trace_info",
             "SELECT count(*) FROM assessments WHERE assessment_type = 'feedback'"),
            ("assay.db", "SELECT count(*) FROM traces",
             "SELECT count(*) FROM assessments WHERE kind = 'feedback'")):
        path = workdir / name
        if path.exists():
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    return (f"{db.execute(traces).fetchone()[0]} traces and "
                            f"{db.execute(feedback).fetchone()[0]} feedback stored, "
                            "warm-up included")
            except sqlite3.Error as error:
                return f"its store could not be read: {error}"
    return "no store"


def cell(values: Sequence[float], digits: int = 2) -> str:
    """best (median, n)."""
    if not values:
        return "-"
    return (f"**{min(values):.{digits}f}** ({statistics.median(values):.{digits}f}, "
            f"n={len(values)})")


def markdown(jobs: Sequence[Job], args: argparse.Namespace, info: dict[str, Any]) -> str:
    floor = args.rows * args.latency_ms / 1000 / ASSAY_WORKERS
    lines = [
        f"{args.rows:,} rows, Correctness judge answering in {args.latency_ms:g} ms, "
        f"{args.runs} run(s) of Assay, {args.mlflow_runs or args.runs} of mlflow; cells are "
        f"**best** (median, n). Floor at concurrency "
        f"10: {args.rows:,} {TIMES} {args.latency_ms / 1000:g} s / 10 = {floor:g} s.",
        "",
        "| side / configuration | mode | wall s | floor s | wall / floor | CPU ms/row "
        "| judge calls | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for job in jobs:
        rs = job.results
        if not rs:
            lines.append(f"| {job.label} | {job.mode} | failed: {'; '.join(job.failures)} "
                         "| | | | | |")
            continue
        lines.append(
            f"| {job.label} | {job.mode} | {cell([r['wall_s'] for r in rs])} "
            f"| {rs[0]['floor_s']:g} | {cell([r['floor_ratio'] for r in rs])} "
            f"| {cell([r['cpu_ms_per_row'] for r in rs])} "
            f"| {max(r['judge_calls'] for r in rs):,} | {max(r['errors'] for r in rs)} |")
    assay = {job.mode: job for job in jobs if job.label.startswith("Assay") and job.results}
    ratios = []
    for job in jobs:
        mine = assay.get(job.mode)
        if job.label.startswith("mlflow") and job.results and mine is not None:
            theirs = min(r["wall_s"] for r in job.results)
            ours = min(r["wall_s"] for r in mine.results)
            cpu_theirs = min(r["cpu_ms_per_row"] for r in job.results)
            cpu_ours = min(r["cpu_ms_per_row"] for r in mine.results)
            ratios.append(f"| {job.label} / Assay | {job.mode} | {theirs / ours:.1f}{TIMES} "
                          f"| {cpu_theirs / cpu_ours:.1f}{TIMES} |")
    if ratios:
        lines += ["", "| ratio of best runs | mode | wall | CPU per row |",
                  "|---|---|---:|---:|", *ratios]
    verdicts = []
    for mode, job in assay.items():
        best = min(r["floor_ratio"] for r in job.results)
        cpu = min(r["cpu_ms_per_row"] for r in job.results)
        verdicts.append(
            f"Assay {mode}: {best:.2f}{TIMES} the floor (target {TARGET_FLOOR_RATIO}{TIMES}: "
            f"{'met' if best <= TARGET_FLOOR_RATIO else 'missed'}), {cpu:.2f} ms CPU/row "
            f"(target < {TARGET_CPU_MS_PER_ROW:g}: "
            f"{'met' if cpu < TARGET_CPU_MS_PER_ROW else 'missed'}).")
    machine_info = info["machine"]
    lines += ["", *verdicts, "",
              f"Machine: {machine_info['cores']} cores, {machine_info['cpu']}, Python "
              f"{machine_info['python']}; load average {machine_info['load_avg_1m']:.1f} at "
              f"the start; calibration loop {info['calibration']['start']['median_ms']:.0f} ms "
              f"at the start, {info['calibration']['end']['median_ms']:.0f} ms at the end. "
              f"{info['mlflow']}. Judge server CPU per call: "
              f"{info['judge_cpu_ms_per_call']:.2f} ms (its own process)."]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlflow-runs", type=int,
                        help="runs of each mlflow configuration (default: --runs)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one side's process may take")
    parser.add_argument("--defaults-timeout", type=float, default=300.0,
                        help="seconds mlflow at its defaults may take (it stalls on its "
                             "SQLite connection pool; see benchmarks/README.md)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--modes", nargs="+", choices=["static", "predict"],
                        default=["static", "predict"])
    parser.add_argument("--mlflow-configs", nargs="+", choices=list(MLFLOW_CONFIGS),
                        default=list(MLFLOW_CONFIGS))
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-assay", action="store_true")
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--save", type=Path, help="also write every run as JSON to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the working directories")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info: dict[str, Any] = {"machine": machine(), "calibration": {"start": calibrate()},
                            "mlflow": "mlflow skipped"}
    judge, base_url = start_judge(args.latency_ms)
    try:
        jobs: list[Job] = []
        mlflow_python = None
        if not args.skip_mlflow:
            mlflow_python, info["mlflow"] = ensure_mlflow_venv(args.mlflow_venv)
            if mlflow_python is None:
                log(f"Skipping mlflow: {info['mlflow']}")
        for mode in args.modes:
            if not args.skip_assay:
                jobs.append(Job("Assay (10/10)", Path(sys.executable),
                                HERE / "_assay_evaluation.py",
                                judge_env(assay_env(), base_url), mode, ASSAY_WORKERS))
            if mlflow_python is not None:
                for config in args.mlflow_configs:
                    # The floor of mlflow's defaults is taken at concurrency 10 too: its
                    # rate limit, not its pools of 40, bounds it.
                    jobs.append(Job(f"mlflow {config}", mlflow_python,
                                    HERE / "_mlflow_evaluation.py",
                                    mlflow_env(config, base_url), mode, ASSAY_WORKERS))
        judge_before = _judge_stats(base_url)
        mlflow_runs = args.runs if args.mlflow_runs is None else args.mlflow_runs
        for run in range(1, max(args.runs, mlflow_runs) + 1):
            for job in jobs:
                runs = mlflow_runs if job.label.startswith("mlflow") else args.runs
                if run <= runs:
                    log(f"run {run}/{runs}: {job.label}, {job.mode} ...")
                    run_job(job, args)
        judge_after = _judge_stats(base_url)
    finally:
        judge.terminate()
        judge.wait(timeout=10)
    calls = max(1, judge_after["requests"] - judge_before["requests"])
    info["judge_cpu_ms_per_call"] = 1000 * (judge_after["cpu_s"] - judge_before["cpu_s"]) / calls
    info["calibration"]["end"] = calibrate()
    if args.save:
        args.save.write_text(json.dumps(
            {"info": info, "args": {k: str(v) for k, v in vars(args).items()},
             "runs": {f"{job.label} {job.mode}": job.results for job in jobs}}, indent=1))
    print(markdown(jobs, args, info))
    return 0 if all(job.results for job in jobs) else 1


def _judge_stats(base_url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as r:
        stats: dict[str, Any] = json.load(r)
    return stats


if __name__ == "__main__":
    started = time.time()
    code = main()
    log(f"done in {time.time() - started:.0f} s")
    sys.exit(code)
