"""Tracing overhead: µs per span of ``@assay.trace`` vs ``@mlflow.trace``, and time to readable.

The workload (``_common.py``) is three decorated functions, outer -> middle -> inner, so
each call of outer is one trace of 3 spans; a tight loop of ``--traces`` calls (default
2,000, i.e. 6,000 spans) is timed in the application thread with ``time.perf_counter``.
Each side measures, in one fresh process and a fresh temporary working directory:

* **plain**: the same three functions, undecorated (reference);
* **disabled**: the decorated loop with tracing disabled -- the floor;
* **traced**: the decorated loop writing to the default SQLite store
  (``sqlite:///assay.db`` / ``sqlite:///mlflow.db`` in the working directory), after 20
  warm-up traces into another experiment;
* **readable**: from the end of the traced loop, with no explicit flush, a separate reader
  process pages through the experiment (``search_traces(include_spans=False)``) every
  50 ms (Assay) / 0.5 s (mlflow) until all traces are returned, a timeout, or 30 s without
  progress. Then the app flushes and the reader re-reads everything with spans: **lost** =
  traces never stored, **incomplete** = stored with fewer than 3 spans.

Assay runs with this interpreter (the project venv, ``src/`` first on ``PYTHONPATH``).
mlflow runs in ``benchmarks/.venv-mlflow``, which this script creates from
``requirements-mlflow.txt`` on first use; mlflow is never installed in the project venv.
mlflow runs in two modes: its SDK **defaults**, and **lossless**
(``MLFLOW_USE_BATCH_SPAN_PROCESSOR=false`` and an export queue of 100,000), because with
the defaults it drops traces under a burst and "all readable" never happens.

Usage::

    python benchmarks/tracing_overhead.py                 # 2,000 traces, 3 runs, both
    python benchmarks/tracing_overhead.py --skip-mlflow   # Assay only
    python benchmarks/tracing_overhead.py --traces 500 --runs 1 --mlflow-mode defaults
    python benchmarks/tracing_overhead.py --json > results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MLFLOW_REQUIREMENTS = HERE / "requirements-mlflow.txt"
DEFAULT_MLFLOW_VENV = HERE / ".venv-mlflow"
RESULT_PREFIX = "BENCH-RESULT "

#: The issue's targets for Assay.
TARGET_US_ABOVE_FLOOR = 30.0
TARGET_READABLE_S = 1.0

#: Extra environment of each mlflow mode.
MLFLOW_MODES: dict[str, dict[str, str]] = {
    "defaults": {},
    "lossless": {"MLFLOW_USE_BATCH_SPAN_PROCESSOR": "false",
                 "MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE": "100000"},
}
#: stderr lines in which mlflow reports dropping spans or traces.
#: Typography for the tables (escaped: ruff flags look-alike characters in literals).
DASH, TIMES = "\u2013", "\u00d7"
DROP_PATTERNS = re.compile(r"Queue full|queue is full|will be discarded|dropping", re.I)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- environment ---------------------------------------------------------------------------

def pinned_mlflow_version() -> str:
    """The version ``requirements-mlflow.txt`` pins."""
    match = re.search(r"^mlflow==(\S+)", MLFLOW_REQUIREMENTS.read_text(), re.M)
    if match is None:
        raise SystemExit(f"{MLFLOW_REQUIREMENTS} pins no mlflow==VERSION")
    return match.group(1)


def installed_mlflow_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_mlflow_venv(venv: Path) -> tuple[Path | None, str]:
    """The mlflow venv's python (creating or updating the venv), or None and why not."""
    python = venv / "bin" / "python"
    wanted = pinned_mlflow_version()
    if installed_mlflow_version(python) == wanted:
        return python, f"mlflow {wanted} in {venv}"
    log(f"Installing mlflow {wanted} into {venv} (first run only; takes a minute or two) ...")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(MLFLOW_REQUIREMENTS)],
                       check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        return None, f"could not create the mlflow venv {venv}: {error}"
    found = installed_mlflow_version(python)
    if found != wanted:
        return None, f"{venv} has mlflow {found}, not the pinned {wanted}"
    return python, f"mlflow {wanted} in {venv}"


def assay_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    return env


def mlflow_env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    env.update(MLFLOW_MODES[mode])
    return env


def assay_importable() -> tuple[bool, str]:
    probe = subprocess.run(
        [sys.executable, "-c", "import assay, assay.tracing; assay.trace; "
         "assay.tracing.disable; assay.flush_trace_async_logging; import assay.store"],
        capture_output=True, text=True, env=assay_env())
    if probe.returncode == 0:
        return True, "ok"
    lines = probe.stderr.strip().splitlines()
    return False, lines[-1] if lines else f"exit code {probe.returncode}"


def calibrate(repeats: int = 5) -> dict[str, float]:
    """A fixed pure-Python loop (ms): how fast this machine is right now."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0]}


# -- running the sides ---------------------------------------------------------------------

@dataclass
class Job:
    """One side in one mode: what to run and the results of its runs."""

    label: str
    python: Path
    script: Path
    env: dict[str, str]
    timeout: float
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_side(job: Job, args: argparse.Namespace, keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{job.label}-"))
    stderr_path = workdir / "stderr.log"
    command = [str(job.python), str(job.script), "--traces", str(args.traces),
               "--warmup", str(args.warmup), "--timeout", str(job.timeout),
               "--stall", str(args.stall)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        with stderr_path.open("w") as stderr:
            done = subprocess.run(command, cwd=workdir, env=job.env, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True,
                                  timeout=job.timeout + args.stall + 600 + args.traces * 0.05)
    except subprocess.TimeoutExpired:
        job.failures.append(f"timed out (stderr: {stderr_path})")
        return
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = stderr_path.read_text().strip().splitlines()[-5:]
        job.failures.append(f"exit code {done.returncode}: " + " | ".join(tail))
        log(f"  {job.label} failed; stderr kept in {stderr_path}")
        return
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX):])
    stderr_text = stderr_path.read_text()
    result["label"] = job.label
    result["process_wall_s"] = time.perf_counter() - start
    result["process_cpu_s"] = ((after.ru_utime - before.ru_utime)
                               + (after.ru_stime - before.ru_stime))
    # Distinct drop warnings, without their timestamp and logger, cut to a readable length.
    result["drop_warnings"] = sorted({
        re.sub(r"^[\d/: ]+\s*(WARNING\s+\S+:\s*)?", "", line.strip())[:90]
        for line in stderr_text.splitlines() if DROP_PATTERNS.search(line)})
    job.results.append(result)
    readable = result["readable"]
    log(f"  {job.label}: {result['us_per_span']['enabled']:.1f} µs/span traced, "
        f"{result['us_per_span']['disabled']:.2f} disabled; all readable after "
        f"{fmt_s(readable['all_readable_s'])} s ({readable['stopped']}); "
        f"lost {result['final']['lost']}, incomplete {result['final']['incomplete']}")
    if keep:
        log(f"  kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


# -- summarising ---------------------------------------------------------------------------

def fmt_s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def fmt_num(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(values: Sequence[float | None]) -> str:
    """median (min-max, n); runs where it never happened are counted separately."""
    present = [v for v in values if v is not None]
    missing = len(values) - len(present)
    if not present:
        return f"never (n={len(values)})" if values else DASH
    text = fmt_num(statistics.median(present))
    if len(present) > 1:
        text += f" ({fmt_num(min(present))}{DASH}{fmt_num(max(present))}, n={len(present)})"
    else:
        text += " (n=1)"
    if missing:
        text += f"; never in {missing} of {len(values)}"
    return text


Metric = Callable[[dict[str, Any]], float | None]

#: key -> (row title, value of one run's result).
METRICS: dict[str, tuple[str, Metric]] = {
    "plain": ("µs/span, plain functions (no decorator)", lambda r: r["us_per_span"]["plain"]),
    "disabled": ("µs/span, tracing disabled (floor)", lambda r: r["us_per_span"]["disabled"]),
    "traced": ("**µs/span, traced to the SQLite default**",
               lambda r: r["us_per_span"]["enabled"]),
    "above_floor": ("**µs/span above the floor**",
                    lambda r: r["us_per_span"]["enabled"] - r["us_per_span"]["disabled"]),
    "thread_cpu": ("traced loop: CPU of the app thread, µs/span",
                   lambda r: r["thread_cpu_us_per_span"]["enabled"]),
    "process_cpu": ("traced loop: CPU of the whole process (app + export threads), µs/span",
                    lambda r: r["process_cpu_us_per_span"]["enabled"]),
    "readable": ("**s after the loop until all traces readable**",
                 lambda r: r["readable"]["all_readable_s"]),
    "last_new": ("s after the loop until the last trace that arrived",
                 lambda r: r["readable"]["last_new_s"]),
    "first_poll": ("traces readable at the loop's end (first poll)",
                   lambda r: r["readable"]["readable_at_first_poll"]),
    "lost": ("traces lost (never stored, after a final flush)", lambda r: r["final"]["lost"]),
    "incomplete": ("traces stored incomplete (< 3 spans, or missing from the search with "
                   "spans)", lambda r: r["final"]["incomplete"] + r["final"].get("omitted", 0)),
    "side_cpu": ("CPU s of the whole side process (app + reader)",
                 lambda r: r["process_cpu_s"]),
}


def median_of(results: Sequence[dict[str, Any]], metric: Metric) -> float | None:
    values = [v for v in (metric(r) for r in results) if v is not None]
    return statistics.median(values) if values else None


def summarise(jobs: Sequence[Job]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for job in jobs:
        summary[job.label] = {
            key: {"median": median_of(job.results, metric),
                  "values": [metric(r) for r in job.results]}
            for key, (_, metric) in METRICS.items()}
        summary[job.label]["failures"] = job.failures
    by_label = {job.label: job for job in jobs}
    assay = by_label.get("assay")
    ratios: dict[str, float | None] = {}
    if assay and assay.results:
        for label in ("mlflow-defaults", "mlflow-lossless"):
            other = by_label.get(label)
            if not other or not other.results:
                continue
            for key in ("traced", "above_floor", "disabled", "readable"):
                metric = METRICS[key][1]
                mine, theirs = median_of(assay.results, metric), median_of(other.results, metric)
                ratios[f"{label} / Assay: {METRICS[key][0].strip('*')}"] = (
                    theirs / mine if mine and theirs is not None else None)
        overhead = median_of(assay.results, METRICS["above_floor"][1])
        readable = [r["readable"]["all_readable_s"] for r in assay.results]
        summary["targets"] = {
            "us_above_floor": overhead, "us_above_floor_target": TARGET_US_ABOVE_FLOOR,
            "us_above_floor_met": overhead is not None and overhead <= TARGET_US_ABOVE_FLOOR,
            "readable_s_worst": None if None in readable else max(
                v for v in readable if v is not None),
            "readable_target_s": TARGET_READABLE_S,
            "readable_met": all(v is not None and v <= TARGET_READABLE_S for v in readable),
            "lost_total": sum(r["final"]["lost"] for r in assay.results),
        }
    summary["ratios"] = ratios
    return summary


def markdown(jobs: Sequence[Job], summary: dict[str, Any], args: argparse.Namespace,
             info: dict[str, Any]) -> str:
    shown = [job for job in jobs if job.results or job.failures]
    titles = {"assay": "Assay", "mlflow-defaults": "mlflow defaults",
              "mlflow-lossless": "mlflow lossless"}
    out = [f"{args.traces:,} traces {TIMES} 3 spans per run; "
           f"cells are median (min{DASH}max, n runs).", ""]
    out.append("| figure | " + " | ".join(titles[job.label] for job in shown) + " |")
    out.append("|---|" + "---|" * len(shown))
    for name, metric in METRICS.values():
        row = [cell([metric(r) for r in job.results]) for job in shown]
        out.append(f"| {name} | " + " | ".join(row) + " |")
    if summary.get("ratios"):
        out += ["", "| ratio (medians) | value |", "|---|---|"]
        for name, value in summary["ratios"].items():
            out.append(f"| {name} | {DASH if value is None else f'{value:,.1f}{TIMES}'} |")
    if "targets" in summary:
        t = summary["targets"]
        over = DASH if t["us_above_floor"] is None else f"{t['us_above_floor']:.1f}"
        out += ["", f"Target: ≤ {TARGET_US_ABOVE_FLOOR:.0f} µs/span above the floor: "
                    f"{over} µs → {'met' if t['us_above_floor_met'] else 'NOT met'}; "
                    f"every trace readable ≤ {TARGET_READABLE_S:.0f} s after the loop: worst "
                    f"{fmt_s(t['readable_s_worst'])} s → "
                    f"{'met' if t['readable_met'] else 'NOT met'} (lost: {t['lost_total']})."]
    for job in shown:
        for failure in job.failures:
            out.append(f"\n{job.label} failed: {failure}")
        drops = {w for r in job.results for w in r.get("drop_warnings", [])}
        if drops:
            out.append(f"\n{job.label} drop warnings: " + " / ".join(sorted(drops)[:3]))
    calib = info["calibration"]
    out += ["", f"Machine: {info['machine']['cores']} cores, {info['machine']['cpu'] or '?'}, "
                f"Python {info['machine']['python']}, load {info['machine']['load_avg_1m']:.2f} "
                f"at start. Calibration loop: {calib['start']['median_ms']:.1f} ms at start, "
                f"{calib['end']['median_ms']:.1f} ms at end. {info['mlflow']}."]
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=2000, help="traces per loop (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up traces")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure Assay only")
    parser.add_argument("--skip-assay", action="store_true", help="measure mlflow only")
    parser.add_argument("--mlflow-mode", choices=["defaults", "lossless", "both"],
                        default="both", help="which mlflow configurations (default both)")
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV,
                        help="virtual environment for mlflow (created if missing)")
    parser.add_argument("--assay-timeout", type=float, default=60.0,
                        help="s to wait for every Assay trace to be readable (default 60)")
    parser.add_argument("--mlflow-timeout", type=float, default=300.0,
                        help="s to wait for every mlflow trace to be readable (default 300)")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="stop waiting after this many s without a new readable trace")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="also write the JSON (every run, with timelines) to FILE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info: dict[str, Any] = {"machine": machine(), "calibration": {"start": calibrate()},
                            "args": {k: str(v) for k, v in vars(args).items()}}
    jobs: list[Job] = []
    if not args.skip_assay:
        ok, why = assay_importable()
        if ok:
            jobs.append(Job("assay", Path(sys.executable), HERE / "_assay_tracing.py",
                            assay_env(), args.assay_timeout))
        else:
            log(f"Assay is not importable from {REPO / 'src'} ({why}): skipping its side.")
            info["assay_skipped"] = why
    info["mlflow"] = "mlflow skipped (--skip-mlflow)"
    if not args.skip_mlflow:
        python, why = ensure_mlflow_venv(args.mlflow_venv)
        info["mlflow"] = why
        if python is None:
            log(f"Skipping mlflow: {why.rstrip('.')}. Reporting Assay's figures only.")
        else:
            modes = ["defaults", "lossless"] if args.mlflow_mode == "both" else [args.mlflow_mode]
            for mode in modes:
                jobs.append(Job(f"mlflow-{mode}", python, HERE / "_mlflow_tracing.py",
                                mlflow_env(mode), args.mlflow_timeout))
    if not jobs:
        log("Nothing to measure.")
        return 1
    for run in range(1, args.runs + 1):
        for job in jobs:
            log(f"run {run}/{args.runs}: {job.label} ...")
            run_side(job, args, args.keep)
    info["calibration"]["end"] = calibrate()
    summary = summarise(jobs)
    document = {"info": info, "summary": summary,
                "runs": {job.label: job.results for job in jobs}}
    if args.save:
        args.save.write_text(json.dumps(document, indent=1) + "\n")
    if args.json:
        print(json.dumps(document, indent=1))
    else:
        print(markdown(jobs, summary, args, info))
    return 0 if all(job.results for job in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
