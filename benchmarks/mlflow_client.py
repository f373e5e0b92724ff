"""The stock mlflow client (3.17) against ``assay server``, beside the same client against
``mlflow server``, in one run on one machine.

Each server starts fresh on an ephemeral port in a temporary directory (Assay: a SQLite file
with 1 worker, and with ``--postgres`` a scratch schema on PostgreSQL with 2 workers, dropped
afterwards; mlflow: ``mlflow server`` on SQLite, its defaults). Then one client process, the
unmodified ``mlflow`` of ``benchmarks/.venv-mlflow`` with ``MLFLOW_TRACKING_URI`` set to the
server, runs the same workload against each:

1. **Traces per second.** ``--traces`` calls of a ``@mlflow.trace`` function that calls two
   more (3 nested spans per trace), then ``mlflow.flush_trace_async_logging()``. Reported:
   the loop's time, the flush's time, and **traces/s = traces / (loop + flush)** (everything
   handed to the server), with the client's CPU time.
2. **Autolog** (with ``--openai``): ``--openai-traces`` chat completions with
   ``mlflow.openai.autolog()`` on, against a local OpenAI-compatible server that answers at
   once (``_judge_server.py``), then the flush; traces/s as above.
3. **Did everything arrive, and how.** The client counts how often it uploaded a
   ``traces.json`` artifact (mlflow's fallback when the server does not say it has the spans)
   and the spans it sent by OTLP; after the flush the client pages through
   ``MlflowClient.search_traces`` (with spans) and, at the end, this process through the
   server's own REST search: **lost** = traces the app recorded that the server does not
   return. With ``--client-mode defaults`` the client's own export queue (1,000 tasks)
   overflows in a tight loop and mlflow *discards* traces before any server sees them (it
   logs "Trace export queue is full"); so by default the client runs with the settings under
   which it drops nothing (``lossless``: ``MLFLOW_USE_BATCH_SPAN_PROCESSOR=false``, a queue of
   100,000), as ``tracing_overhead.py`` does.
4. **log_feedback latency.** ``--feedback`` calls of ``mlflow.log_feedback`` (after 20
   untimed), one at a time, on random traces of step 1 that the server returned: a thumbs
   (bool), a star rating (int) or a comment with a rationale, from a HUMAN source. p50/p99 of
   each call as the app sees it; failed calls are counted.
5. **Memory.** The resident memory (RSS, from ``/proc``) of the server's whole process tree,
   idle after start-up and its peak while the client runs (sampled every 0.2 s).

The parent runs with the project's interpreter and Assay from ``src/``; the client role of
this same file runs in the mlflow venv (built from ``requirements-mlflow.txt`` on first use;
``--openai`` also installs ``openai`` into it). Nothing here asserts a timing.

Usage::

    .venv/bin/python benchmarks/mlflow_client.py                  # Assay (SQLite) and mlflow
    .venv/bin/python benchmarks/mlflow_client.py --postgres --openai
    .venv/bin/python benchmarks/mlflow_client.py --traces 5000 --feedback 500 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULT_PREFIX = "BENCH-RESULT "
SPANS_PER_TRACE = 3
#: openai, for ``--openai``: the version the project and the client tests pin.
OPENAI_REQUIREMENT = "openai==3.63.0"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of ``samples`` (seconds), in milliseconds."""
    cuts = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50": 1000 * cuts[49], "p95": 1000 * cuts[94], "p99": 1000 * cuts[98],
            "mean": 1000 * statistics.fmean(samples), "max": 1000 * max(samples)}


# -- the client role: runs in the mlflow venv ----------------------------------------------

class _Counters:
    """How the client shipped its traces: OTLP export requests, traces.json uploads."""

    def __init__(self) -> None:
        self.otlp_requests = 0
        self.otlp_spans = 0
        self.trace_json_uploads = 0
        self.version_failures = 0
        self.found: list[str] = []

    def install(self) -> None:
        """Wrap (not change) the two ways mlflow 3.17 ships spans to a tracking server."""
        from mlflow.store.tracking.rest_store import RestStore
        from mlflow.tracing.client import TracingClient

        counters = self
        log_spans = getattr(RestStore, "log_spans", None)
        if log_spans is not None:
            def counting_log_spans(store: Any, location: str, spans: Any,
                                   *args: Any, **kwargs: Any) -> Any:
                logged = log_spans(store, location, spans, *args, **kwargs)
                counters.otlp_requests += 1  # only those the server answered
                counters.otlp_spans += len(spans)
                return logged
            RestStore.log_spans = counting_log_spans  # type: ignore[method-assign]
            self.found.append("RestStore.log_spans")
        # The client asks GET /version (3 s timeout, no retry) before its first OTLP export;
        # when that fails it turns OTLP off for the process and uploads traces.json instead.
        version = RestStore.__dict__.get("_get_server_version")
        if isinstance(version, staticmethod):
            get_version = version.__func__

            def counting_version(host_creds: Any) -> Any:
                found = get_version(host_creds)
                if found is None:
                    counters.version_failures += 1
                return found
            RestStore._get_server_version = staticmethod(counting_version)  # type: ignore[method-assign]
            self.found.append("RestStore._get_server_version")
        upload = getattr(TracingClient, "_upload_trace_data", None)
        if upload is not None:
            def counting_upload(client: Any, *args: Any, **kwargs: Any) -> Any:
                counters.trace_json_uploads += 1
                return upload(client, *args, **kwargs)
            TracingClient._upload_trace_data = counting_upload  # type: ignore[attr-defined]
            self.found.append("TracingClient._upload_trace_data")


def run_client(args: argparse.Namespace) -> None:
    """The workload, with the stock mlflow client, against ``args.url``."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType
    from mlflow.tracking import MlflowClient

    counters = _Counters()
    counters.install()
    mlflow.set_tracking_uri(args.url)
    result: dict[str, Any] = {"mlflow": mlflow.__version__, "wrapped": counters.found}

    @mlflow.trace
    def inner(text: str) -> str:
        return text[:16] + "!"

    @mlflow.trace
    def middle(text: str) -> str:
        return inner(text + " (middle)")

    @mlflow.trace
    def outer(text: str) -> str:
        return middle(text + " (outer)")

    prompt = "What is the capital of France?"
    mlflow.set_experiment(f"{args.experiment}-warmup")
    for _ in range(20):
        outer(prompt)
    mlflow.flush_trace_async_logging()

    experiment = mlflow.set_experiment(args.experiment)
    result["experiment_id"] = experiment.experiment_id
    before = (counters.otlp_requests, counters.trace_json_uploads, counters.otlp_spans)
    trace_ids: list[str] = []
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(args.traces):
        outer(prompt)
        trace_ids.append(mlflow.get_last_active_trace_id() or "")
    loop_s = time.perf_counter() - start
    mlflow.flush_trace_async_logging()
    total_s = time.perf_counter() - start
    result["traces"] = {
        "n": args.traces, "loop_s": loop_s, "flush_s": total_s - loop_s, "total_s": total_s,
        "per_s": args.traces / total_s, "client_cpu_s": time.process_time() - cpu,
        "otlp_requests": counters.otlp_requests - before[0],
        "trace_json_uploads": counters.trace_json_uploads - before[1],
        "otlp_spans": counters.otlp_spans - before[2]}

    expected = args.traces
    if args.openai_url:
        import openai

        mlflow.openai.autolog()
        chat = openai.OpenAI(base_url=args.openai_url, api_key="bench-key")
        messages = [{"role": "user", "content": prompt}]
        for _ in range(5):
            chat.chat.completions.create(model="gpt-bench", messages=messages)  # type: ignore[arg-type]
        mlflow.flush_trace_async_logging()
        before = (counters.otlp_requests, counters.trace_json_uploads)
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(args.openai_traces):
            chat.chat.completions.create(model="gpt-bench", messages=messages)  # type: ignore[arg-type]
        loop_s = time.perf_counter() - start
        mlflow.flush_trace_async_logging()
        total_s = time.perf_counter() - start
        mlflow.openai.autolog(disable=True)
        result["autolog"] = {
            "n": args.openai_traces, "loop_s": loop_s, "flush_s": total_s - loop_s,
            "total_s": total_s, "per_s": args.openai_traces / total_s,
            "client_cpu_s": time.process_time() - cpu,
            "otlp_requests": counters.otlp_requests - before[0],
            "trace_json_uploads": counters.trace_json_uploads - before[1]}
        expected += 5 + args.openai_traces

    # What the client reads back: every trace of the experiment, with its spans.
    client = MlflowClient()
    found: dict[str, int] = {}
    token = None
    start = time.perf_counter()
    while True:
        page = client.search_traces(locations=[experiment.experiment_id], max_results=500,
                                    page_token=token)
        for trace in page:
            found[trace.info.trace_id] = len(trace.data.spans)
        token = page.token
        if not token or not page:
            break
    missing = [t for t in trace_ids if t not in found]
    result["read_back"] = {
        "expected": expected, "found": len(found), "read_s": time.perf_counter() - start,
        "missing_of_loop": len(missing), "missing_examples": missing[:3],
        "not_whole": sum(1 for t in trace_ids if t in found and found[t] != SPANS_PER_TRACE),
        "spans_of_loop": sum(found.get(t, 0) for t in trace_ids),
        "empty_trace_ids": trace_ids.count("")}
    rng = random.Random(args.seed)

    def feedback(i: int) -> None:
        kind = i % 3
        name = ("thumbs", "stars", "comment")[kind]
        value: Any = (i % 2 == 0, i % 5 + 1, f"Answer {i} missed the point")[kind]
        mlflow.log_feedback(
            trace_id=rng.choice(targets), name=name, value=value,
            rationale="The user explained why" if kind == 2 else None,
            source=AssessmentSource(AssessmentSourceType.HUMAN, f"user-{i % 50}"))

    # On traces the server has (the client may have dropped some, see the module docstring):
    # mlflow refuses feedback for an unknown trace, Assay keeps it pending.
    targets = [t for t in trace_ids if t in found] or trace_ids
    failures: list[str] = []
    latencies = []
    for i in range(-20, args.feedback):
        start = time.perf_counter()
        try:
            feedback(i)
        except Exception as error:  # counted and reported, not hidden
            failures.append(f"{type(error).__name__}: {error}"[:300])
        if i >= 0:
            latencies.append(time.perf_counter() - start)
    result["feedback_ms"] = percentiles(latencies)
    result["feedback_failures"] = {"count": len(failures), "first": failures[:3]}

    result["otlp_requests_total"] = counters.otlp_requests
    result["otlp_spans_total"] = counters.otlp_spans
    result["trace_json_uploads_total"] = counters.trace_json_uploads
    result["version_failures"] = counters.version_failures
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# -- the parent ----------------------------------------------------------------------------

def ensure_openai(python: Path) -> str:
    """Install openai into the mlflow venv if it lacks it; "" or why it could not."""
    probe = subprocess.run([str(python), "-c", "import openai"], capture_output=True)
    if probe.returncode == 0:
        return ""
    log(f"Installing {OPENAI_REQUIREMENT} into the mlflow venv (first --openai run only) ...")
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", OPENAI_REQUIREMENT],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


class PeakMemory:
    """Samples the RSS of a server's process tree in a thread until stopped."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        from server import memory_of

        self._pid, self._every, self._memory_of = pid, every, memory_of
        self.tree = self.largest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            memory = self._memory_of(self._pid)
            self.tree = max(self.tree, memory.tree)
            self.largest = max(self.largest, memory.largest)
            self._stop.wait(self._every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def settle(pid: int, timeout: float = 90.0) -> None:
    """Wait until the server's process tree has finished starting: less than a tenth of a
    core used over one second. mlflow's starts job-runner processes after it answers
    /health, and while they import, the client's first ``GET /version`` (3 s timeout, no
    retry, its failure cached for the process) can time out, which turns OTLP off."""
    from server import cpu_s, tree_pids

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_s(p) for p in tree_pids(pid))
        time.sleep(1.0)
        if sum(cpu_s(p) for p in tree_pids(pid)) - before < 0.1:
            return


def measure(system: Any, python: Path, args: argparse.Namespace, workdir: Path,
            openai_url: str | None) -> dict[str, Any]:
    """Start ``system``, run the client against it, count what arrived."""
    import httpx
    from tracing_overhead import DROP_PATTERNS, mlflow_env

    from server import cpu_s, memory_of, start, tree_pids

    start(system, workdir)
    assert system.process is not None
    settle(system.process.pid)
    result: dict[str, Any] = {"system": system.label, "title": system.title,
                              "idle_rss": memory_of(system.process.pid).__dict__}
    command = [str(python), str(Path(__file__).resolve()), "--role", "client",
               "--url", system.url, "--traces", str(args.traces),
               "--feedback", str(args.feedback), "--seed", str(args.seed),
               "--experiment", f"bench-mlflow-client-{args.seed}"]
    if openai_url:
        command += ["--openai-url", openai_url, "--openai-traces", str(args.openai_traces)]
    env = mlflow_env(args.client_mode) | {"MLFLOW_TRACKING_URI": system.url}
    cpu0 = sum(cpu_s(p) for p in tree_pids(system.process.pid))
    with PeakMemory(system.process.pid) as peak:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir,
                              timeout=3600)
    result["server_cpu_s"] = sum(cpu_s(p) for p in tree_pids(system.process.pid)) - cpu0
    result["peak_rss"] = {"tree": peak.tree, "largest": peak.largest}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        result["failed"] = f"exit code {done.returncode}: {done.stderr.strip()[-2000:]}"
        return result
    result["client"] = json.loads(lines[-1][len(RESULT_PREFIX):])
    warnings = [line for line in done.stderr.splitlines()
                if any(word in line for word in ("WARNING", "Error", "Failed", "failed"))]
    result["client_warnings"] = {
        "count": len(warnings), "first": warnings[:5],
        "queue_full": sum(1 for line in warnings if DROP_PATTERNS.search(line))}
    with httpx.Client(base_url=system.url, timeout=300) as http:
        result["server_count"] = system.count(http, result["client"]["experiment_id"])
    return result


def _row(results: list[dict[str, Any]], title: str, get: Callable[[dict[str, Any]], Any],
         pattern: str, ratio: bool) -> str:
    def value(r: dict[str, Any]) -> Any:
        try:
            return None if "failed" in r else get(r)
        except (KeyError, TypeError):
            return None

    cells = ["\u2013" if value(r) is None else pattern.format(value(r)) for r in results]
    line = f"| {title} | " + " | ".join(cells) + " |"
    assay = next((r for r in results if r["system"] == "assay"), None)
    mlflow = next((r for r in results if r["system"] == "mlflow"), None)
    if assay is not None and mlflow is not None:
        a, m = value(assay), value(mlflow)
        line += f" {a / m:,.2f}x |" if ratio and a and m else " |"
    return line


def markdown(results: list[dict[str, Any]], args: argparse.Namespace,
             info: dict[str, Any]) -> str:
    titles = [r["title"] for r in results]
    both = {r["system"] for r in results} >= {"assay", "mlflow"}
    out = [f"The stock mlflow {info.get('client_mlflow', '3.17')} client "
           f"({args.client_mode} settings): {args.traces:,} "
           f"traces x 3 spans (`@mlflow.trace`), then flush; {args.feedback} "
           f"`mlflow.log_feedback` calls" + (f"; {args.openai_traces} chat completions with "
                                             f"`mlflow.openai.autolog()`" if args.openai
                                             else "") + ".", ""]
    header = "| figure | " + " | ".join(titles) + " |" + (" Assay (SQLite) / mlflow |"
                                                          if both else "")
    out += [header, "|---|" + "---|" * (len(titles) + both)]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], str, bool]] = [
        ("**traces/s, recorded and flushed**", lambda r: r["client"]["traces"]["per_s"],
         "{:,.0f}", True),
        ("traces/s delivered (of those, the server returns)",
         lambda r: (r["client"]["traces"]["n"] - r["client"]["read_back"]["missing_of_loop"])
         / r["client"]["traces"]["total_s"], "{:,.0f}", True),
        ("loop s", lambda r: r["client"]["traces"]["loop_s"], "{:,.2f}", True),
        ("flush s after the loop", lambda r: r["client"]["traces"]["flush_s"], "{:,.2f}",
         True),
        ("client CPU ms per trace",
         lambda r: 1000 * r["client"]["traces"]["client_cpu_s"] / r["client"]["traces"]["n"],
         "{:,.2f}", True),
    ]
    if args.openai:
        rows.append(("**autolog traces/s** (openai chat, recorded and flushed)",
                     lambda r: r["client"]["autolog"]["per_s"], "{:,.0f}", True))
    rows += [
        ("**log_feedback p50 ms**", lambda r: r["client"]["feedback_ms"]["p50"], "{:,.2f}",
         True),
        ("log_feedback p95 ms", lambda r: r["client"]["feedback_ms"]["p95"], "{:,.2f}", True),
        ("**log_feedback p99 ms**", lambda r: r["client"]["feedback_ms"]["p99"], "{:,.2f}",
         True),
        ("server CPU s, whole run", lambda r: r["server_cpu_s"], "{:,.1f}", True),
        ("RSS idle, MB (process tree)", lambda r: r["idle_rss"]["tree"], "{:,.0f}", True),
        ("**RSS peak, MB (process tree)**", lambda r: r["peak_rss"]["tree"], "{:,.0f}", True),
        ("RSS peak, largest process, MB", lambda r: r["peak_rss"]["largest"], "{:,.0f}",
         True),
        ("OTLP export calls (client)", lambda r: r["client"]["otlp_requests_total"],
         "{:,}", False),
        ("spans sent by OTLP (client)", lambda r: r["client"]["otlp_spans_total"], "{:,}",
         False),
        ("GET /version unanswered (client: no more OTLP)",
         lambda r: r["client"]["version_failures"], "{:,}", False),
        ("traces.json uploads (client)", lambda r: r["client"]["trace_json_uploads_total"],
         "{:,}", False),
        ("traces expected", lambda r: r["client"]["read_back"]["expected"], "{:,}", False),
        ("traces the client's search returns", lambda r: r["client"]["read_back"]["found"],
         "{:,}", False),
        ("traces the server's REST search returns", lambda r: r["server_count"], "{:,}",
         False),
        ("**lost** (recorded, not returned)", lambda r: r["client"]["read_back"]["expected"]
         - r["server_count"], "{:,}", False),
        ("returned without all 3 spans", lambda r: r["client"]["read_back"]["not_whole"],
         "{:,}", False),
        ("loop's spans the server acknowledged by OTLP",
         lambda r: r["client"]["traces"]["otlp_spans"], "{:,}", False),
        ("loop's spans the server returns", lambda r: r["client"]["read_back"]["spans_of_loop"],
         "{:,}", False),
        ("client warnings/errors logged", lambda r: r["client_warnings"]["count"], "{:,}",
         False),
        ("of which \"queue is full, trace will be discarded\"",
         lambda r: r["client_warnings"]["queue_full"], "{:,}", False),
        ("log_feedback calls that failed", lambda r: r["client"]["feedback_failures"]["count"],
         "{:,}", False),
    ]
    out += [_row(results, *row) for row in rows]
    for r in results:
        if "failed" in r:
            out += ["", f"{r['title']}: FAILED ({r['failed'][-500:]})"]
            continue
        if r["client_warnings"]["count"]:
            out += ["", f"{r['title']}, first client warnings: "
                        + " / ".join(r["client_warnings"]["first"])[:600]]
        if r["client"]["feedback_failures"]["count"]:
            out += ["", f"{r['title']}, first log_feedback failures: "
                        + " / ".join(r["client"]["feedback_failures"]["first"])[:600]]
    m = info["machine"]
    out += ["", f"Machine: {m['cores']} cores, {m['cpu'] or '?'}, Python {m['python']}; load "
                f"average {info['load_start']} at start, {info['load_end']} at end. "
                f"{info['mlflow']}."]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["parent", "client"], default="parent")
    parser.add_argument("--traces", type=int, default=2000,
                        help="traces of 3 spans the client records (default: %(default)s)")
    parser.add_argument("--feedback", type=int, default=300,
                        help="timed log_feedback calls (default: %(default)s)")
    parser.add_argument("--openai", action="store_true",
                        help="also time mlflow.openai.autolog() on chat completions")
    parser.add_argument("--openai-traces", type=int, default=300,
                        help="chat completions with --openai (default: %(default)s)")
    parser.add_argument("--client-mode", choices=["lossless", "defaults"], default="lossless",
                        help="lossless: the client with MLFLOW_USE_BATCH_SPAN_PROCESSOR=false "
                             "and a 100,000-trace export queue, so that it drops nothing; "
                             "defaults: as installed (its queue of 1,000 overflows and it "
                             "discards traces) (default: %(default)s)")
    parser.add_argument("--skip-mlflow", action="store_true", help="Assay only")
    parser.add_argument("--postgres", action="store_true",
                        help="also Assay on PostgreSQL (2 workers, a scratch schema)")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    # client role
    parser.add_argument("--url")
    parser.add_argument("--experiment", default="bench-mlflow-client")
    parser.add_argument("--openai-url")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "client":
        run_client(args)
        return 0
    sys.path.insert(0, str(HERE))
    from tracing_overhead import DEFAULT_MLFLOW_VENV, ensure_mlflow_venv, machine

    from server import assay_system, mlflow_system, postgres_schema, stop

    load = os.getloadavg()
    info: dict[str, Any] = {"machine": machine(),
                            "load_start": " / ".join(f"{x:.2f}" for x in load)}
    python, why = ensure_mlflow_venv(DEFAULT_MLFLOW_VENV)
    info["mlflow"] = why
    if python is None:
        raise SystemExit(f"The client needs the mlflow venv: {why}")
    judge = None
    openai_url = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-client-"))
    results = []
    try:
        if args.openai:
            problem = ensure_openai(python)
            if problem:
                raise SystemExit(f"--openai: could not install openai: {problem}")
            from evaluation import start_judge
            judge, openai_url = start_judge(0.0)
        systems: list[Callable[[], Any]] = [lambda: assay_system(
            "assay", "Assay (SQLite, 1 worker)", f"sqlite:///{workdir / 'assay.db'}", 1,
            workdir)]
        if args.postgres:
            def postgres() -> Any:
                uri, drop = postgres_schema(args.postgres_uri)
                return assay_system("assay-postgres", "Assay (PostgreSQL, 2 workers)", uri,
                                    2, workdir, drop)
            systems.append(postgres)
        if not args.skip_mlflow:
            systems.append(lambda: mlflow_system(python, workdir))
        for make in systems:
            system = make()
            log(f"{system.title} ...")
            try:
                results.append(measure(system, python, args, workdir, openai_url))
            finally:
                stop(system)
                system.cleanup()
    finally:
        if judge is not None:
            judge.terminate()
            judge.wait(timeout=30)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    info["load_end"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    clients = [r["client"]["mlflow"] for r in results if "client" in r]
    if clients:
        info["client_mlflow"] = clients[0]
    if args.json:
        print(json.dumps({"info": info, "results": results}, indent=1))
    else:
        print(markdown(results, args, info))
    bad = [r for r in results if "failed" in r
           or r["client"]["read_back"]["expected"] != r["server_count"]
           or r["client"]["read_back"]["not_whole"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
