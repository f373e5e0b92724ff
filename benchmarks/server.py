"""The tracking server under load: Assay's ``assay server`` beside ``mlflow server`` (3.17).

Each server runs as its own process tree, started fresh in a temporary directory on its own
database (Assay: SQLite with 1 worker, optionally PostgreSQL with 2 workers; mlflow: SQLite,
its defaults), and gets the same workload, over HTTP only:

1. **Sustained ingest.** ``--clients`` client processes (separate from the server and from
   this one) send OTLP/HTTP protobuf, gzip-compressed, to ``/v1/traces``: batches of
   ``--batch`` traces of 3 spans each (a root CHAIN with inputs and outputs, a RETRIEVER, an
   LLM with GenAI attributes), paced to ``--rate`` traces per second in all for
   ``--seconds`` seconds (``--rate 0``: as fast as the server answers). Every batch is built
   before the clock starts, each client keeps one connection and one request in flight.
   **absorbed** = acknowledged traces / seconds from the first send to the last answer.
2. **Readable.** From the last answer, this process asks for the last 5 traces each client
   had acknowledged, by id, until all are there whole; then it pages through the server's
   REST search (every trace of the experiment) until it returns every acknowledged trace,
   timed at the end of the count that saw them all (so it includes one whole count, whose
   duration is reported too). **lost** = acknowledged traces the search never returned; 300
   random traces are also fetched whole to check their 3 spans.
3. **log_feedback latency.** ``--feedback`` calls (after 20 untimed), one at a time over one
   connection, on random ingested traces: thumbs (bool), stars (int) and a comment with a
   rationale, in turn, from a HUMAN source. Assay: ``POST /api/v1/traces/{id}/feedback``;
   mlflow: ``POST /api/3.0/mlflow/traces/{id}/assessments``, the call ``mlflow.log_feedback``
   makes against a tracking server.
4. **Memory.** The resident memory (RSS, from ``/proc``) of the server's whole process tree:
   idle (after start-up and one warm-up batch), the peak while ingesting (sampled every
   0.25 s), and after. mlflow's tree includes its job runner and queue consumers, so the
   serving process alone is reported too. Server CPU seconds during the ingest as well.

Nothing here asserts a timing: the script prints figures, ratios and whether each target of
the issue was met (on a 2-core machine: >= 3,000 traces/s with nothing lost, readable
within 2 s, log_feedback p50 < 5 ms, server memory < 200 MB).

Assay runs from ``src/`` with this interpreter; mlflow runs in ``benchmarks/.venv-mlflow``
(created from ``requirements-mlflow.txt`` by ``tracing_overhead.py``'s helper on first use).
The clients always run with this interpreter (httpx and the OTLP protobuf classes).

Usage::

    .venv/bin/python benchmarks/server.py                     # Assay (SQLite) and mlflow
    .venv/bin/python benchmarks/server.py --postgres          # + Assay on PostgreSQL, 2 workers
    .venv/bin/python benchmarks/server.py --skip-mlflow --rate 0 --seconds 10
    .venv/bin/python benchmarks/server.py --json > server.json
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
SPANS_PER_TRACE = 3
TARGET_TRACES_PER_S = 3000.0
TARGET_READABLE_S = 2.0
TARGET_FEEDBACK_P50_MS = 5.0
TARGET_RSS_MB = 200.0
DEFAULT_POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/test"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the client process: builds OTLP batches, then sends them on the parent's word ---------------

def build_batches(num_batches: int, batch: int, seed: int) -> list[tuple[bytes, list[str]]]:
    """``num_batches`` gzip-compressed OTLP requests of ``batch`` 3-span traces each."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    rng = random.Random(seed)

    def attr(key: str, value: str | int) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    out = []
    for _ in range(num_batches):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(attr("service.name", "bench-chatbot"))
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "bench"
        ids = []
        for _ in range(batch):
            trace_id = rng.randbytes(16)
            ids.append("tr-" + trace_id.hex())
            root_id, retriever_id, llm_id = rng.randbytes(8), rng.randbytes(8), rng.randbytes(8)
            start = time.time_ns()
            question = f"What is the capital of country {rng.randrange(200)}?"
            root = Span(trace_id=trace_id, span_id=root_id, name="chat",
                        start_time_unix_nano=start, end_time_unix_nano=start + 900_000_000,
                        status=Status(code=Status.STATUS_CODE_OK))
            root.attributes.extend([
                attr("mlflow.spanType", '"CHAIN"'),
                attr("mlflow.spanInputs", json.dumps({"question": question})),
                attr("mlflow.spanOutputs", json.dumps({"answer": "Paris, probably."})),
                attr("session.id", f"session-{rng.randrange(1000)}"),
                attr("user.id", f"user-{rng.randrange(500)}")])
            retriever = Span(trace_id=trace_id, span_id=retriever_id, parent_span_id=root_id,
                             name="retrieve", start_time_unix_nano=start + 1_000_000,
                             end_time_unix_nano=start + 100_000_000)
            retriever.attributes.extend([
                attr("openinference.span.kind", "RETRIEVER"),
                attr("input.value", question),
                attr("output.value", json.dumps([{"doc": "capitals.md", "score": 0.9}])),
                attr("output.mime_type", "application/json")])
            llm = Span(trace_id=trace_id, span_id=llm_id, parent_span_id=root_id, name="llm",
                       start_time_unix_nano=start + 100_000_000,
                       end_time_unix_nano=start + 890_000_000)
            llm.attributes.extend([
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.request.model", "gpt-4o-mini"),
                attr("gen_ai.usage.input_tokens", 120),
                attr("gen_ai.usage.output_tokens", 12)])
            scope.spans.extend([root, retriever, llm])
        out.append((gzip.compress(request.SerializeToString(), 6), ids))
    return out


def run_client(args: argparse.Namespace) -> None:
    """One client: build, say ready, wait for the start time, send paced, report."""
    import httpx

    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    headers.update(json.loads(args.headers))
    batches = build_batches(args.num_batches, args.batch, args.seed)
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    start = float(json.loads(sys.stdin.readline())["start"])
    acked = failed = 0
    errors: list[str] = []
    latencies: list[float] = []
    sample: list[str] = []
    last_ids: list[str] = []
    first_send = last_answer = 0.0
    rng = random.Random(args.seed)
    with httpx.Client(base_url=args.url, timeout=120, headers=headers) as http:
        time.sleep(max(0.0, start - time.time()))
        for i, (body, ids) in enumerate(batches):
            due = start + args.offset + i * args.interval
            if args.interval > 0:
                time.sleep(max(0.0, due - time.time()))
            sent = time.time()
            first_send = first_send or sent
            try:
                response = http.post("/v1/traces", content=body)
                ok = 200 <= response.status_code < 300
                if not ok and len(errors) < 5:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as exc:
                ok = False
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {exc}")
            last_answer = time.time()
            latencies.append(last_answer - sent)
            if ok:
                acked += len(ids)
                sample.extend(rng.sample(ids, min(5, len(ids))))
                last_ids = ids
            else:
                failed += len(ids)
    out.write(json.dumps({
        "acked": acked, "failed": failed, "errors": errors, "first_send": first_send,
        "last_answer": last_answer, "request_s": latencies, "sample": sample,
        "last_ids": last_ids}) + "\n")
    out.flush()


# -- the servers ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tree_pids(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Memory:
    """RSS of a server's process tree (MB), and of its largest process."""

    tree: float
    largest: float


def memory_of(pid: int) -> Memory:
    sizes = [rss_mb(p) for p in tree_pids(pid)]
    return Memory(sum(sizes), max(sizes, default=0.0))


@dataclass
class System:
    """A server to measure and how to talk to it over HTTP."""

    label: str
    title: str
    command: list[str]
    env: dict[str, str]
    port: int
    otlp_header: str
    cleanup: Callable[[], None] = lambda: None
    process: subprocess.Popen[str] | None = None
    log_file: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_mlflow(self) -> bool:
        return self.label == "mlflow"

    # -- the REST calls, per system --------------------------------------------------------
    def create_experiment(self, http: Any, name: str) -> str:
        if self.is_mlflow:
            response = http.post("/api/2.0/mlflow/experiments/create", json={"name": name})
        else:
            response = http.post("/api/v1/experiments", json={"name": name})
        response.raise_for_status()
        experiment_id: str = response.json()["experiment_id"]
        return experiment_id

    def count(self, http: Any, experiment_id: str) -> int:
        """Every trace of the experiment through the REST search, a page at a time."""
        total, token = 0, None
        while True:
            if self.is_mlflow:
                body: dict[str, Any] = {
                    "locations": [{"type": "MLFLOW_EXPERIMENT",
                                   "mlflow_experiment": {"experiment_id": experiment_id}}],
                    "max_results": 500}
                if token:
                    body["page_token"] = token
                response = http.post("/api/3.0/mlflow/traces/search", json=body)
            else:
                response = http.post("/api/v1/traces/search", json={
                    "experiment_ids": [experiment_id], "max_results": 1000,
                    "include_spans": False, "page_token": token})
            response.raise_for_status()
            page = response.json()
            total += len(page.get("traces", []))
            token = page.get("next_page_token")
            if not token or not page.get("traces"):
                return total

    def num_spans(self, http: Any, trace_id: str) -> int:
        if self.is_mlflow:
            response = http.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id})
            return len(response.json().get("trace", {}).get("spans", [])) \
                if response.status_code == 200 else 0
        response = http.get(f"/api/v1/traces/{trace_id}")
        return len(response.json()["trace"]["data"]["spans"]) \
            if response.status_code == 200 else 0

    def log_feedback(self, http: Any, trace_id: str, i: int) -> int:
        kind = i % 3
        name = ("thumbs", "stars", "comment")[kind]
        value: Any = (i % 2 == 0, i % 5 + 1, f"Answer {i} missed the point")[kind]
        rationale = "The user explained why" if kind == 2 else None
        source = {"source_type": "HUMAN", "source_id": f"user-{i % 50}"}
        if self.is_mlflow:
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            assessment: dict[str, Any] = {
                "assessment_name": name, "trace_id": trace_id, "source": source,
                "create_time": now, "last_update_time": now, "feedback": {"value": value}}
            if rationale:
                assessment["rationale"] = rationale
            response = http.post(f"/api/3.0/mlflow/traces/{trace_id}/assessments",
                                 json={"assessment": assessment})
        else:
            response = http.post(f"/api/v1/traces/{trace_id}/feedback", json={
                "name": name, "value": value, "rationale": rationale, "source": source})
        status: int = response.status_code
        return status


def assay_system(label: str, title: str, uri: str, workers: int, workdir: Path,
                 cleanup: Callable[[], None] = lambda: None) -> System:
    from tracing_overhead import assay_env

    port = free_port()
    command = [sys.executable, "-m", "assay.cli", "server", "--port", str(port),
               "--backend-store-uri", uri, "--workers", str(workers)]
    return System(label, title, command, assay_env(), port, "x-assay-experiment-id", cleanup)


def mlflow_system(python: Path, workdir: Path) -> System:
    from tracing_overhead import mlflow_env

    port = free_port()
    command = [str(python), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
               str(port), "--workers", "1", "--backend-store-uri",
               f"sqlite:///{workdir / 'mlflow.db'}"]
    return System("mlflow", "mlflow 3.17 (SQLite)", command, mlflow_env("defaults"), port,
                  "x-mlflow-experiment-id")


def postgres_schema(base: str) -> tuple[str, Callable[[], None]]:
    """A scratch schema on the PostgreSQL server: its URI, and how to drop it."""
    from urllib.parse import quote

    import psycopg
    from psycopg import sql

    schema = f"bench_server_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}", drop


def start(system: System, workdir: Path, timeout: float = 180) -> None:
    import httpx

    system.log_file = open(workdir / f"{system.label}.log", "w")  # noqa: SIM115
    # A session of its own: the whole tree (mlflow's job runner and consumers) stops with it.
    system.process = subprocess.Popen(system.command, cwd=workdir, env=system.env,
                                      stdout=system.log_file, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{system.url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if system.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{system.label} did not start; see {workdir}")
        time.sleep(0.2)


def stop(system: System) -> int | None:
    """Stop the server's whole session and drop what it used; a second call does nothing."""
    process, system.process = system.process, None
    if process is None:
        return None
    code = None
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):
        # whatever the leader left behind in its session (mlflow's consumers)
        os.killpg(process.pid, signal.SIGKILL)
    if system.log_file is not None:
        system.log_file.close()
    return code


# -- one system's measurement -------------------------------------------------------------

def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of ``samples`` (seconds), in milliseconds."""
    cuts = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50": 1000 * cuts[49], "p95": 1000 * cuts[94], "p99": 1000 * cuts[98],
            "mean": 1000 * statistics.fmean(samples), "max": 1000 * max(samples)}


def ingest(system: System, args: argparse.Namespace, experiment_id: str,
           seed: int) -> dict[str, Any]:
    """The clients' run, with the server's memory sampled meanwhile."""
    assert system.process is not None
    total = args.max_traces if args.rate <= 0 else int(args.rate * args.seconds)
    per_client = math.ceil(total / args.batch / args.clients)
    interval = 0.0 if args.rate <= 0 else args.clients * args.batch / args.rate
    clients = []
    for c in range(args.clients):
        clients.append(subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--role", "client", "--url", system.url,
             "--headers", json.dumps({system.otlp_header: experiment_id}),
             "--num-batches", str(per_client), "--batch", str(args.batch),
             "--interval", str(interval), "--offset", str(c * interval / args.clients),
             "--seed", str(seed * 100 + c)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for client in clients:
        assert client.stdout is not None
        json.loads(client.stdout.readline())  # ready: its batches are built
    pid = system.process.pid
    peak = memory_of(pid)
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop_sampling.wait(0.25):
            now = memory_of(pid)
            peak = Memory(max(peak.tree, now.tree), max(peak.largest, now.largest))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    cpu0 = sum(cpu_s(p) for p in tree_pids(system.process.pid))
    sampler.start()
    begin = time.time() + 0.5
    for client in clients:
        assert client.stdin is not None
        client.stdin.write(json.dumps({"start": begin}) + "\n")
        client.stdin.flush()
    reports = []
    for client in clients:
        assert client.stdout is not None
        reports.append(json.loads(client.stdout.readline()))
        client.wait(timeout=60)
    stop_sampling.set()
    sampler.join()
    cpu1 = sum(cpu_s(p) for p in tree_pids(system.process.pid))
    acked = sum(r["acked"] for r in reports)
    first = min(r["first_send"] for r in reports)
    last = max(r["last_answer"] for r in reports)
    requests = [s for r in reports for s in r["request_s"]]
    return {
        "target_rate": args.rate, "sent": per_client * args.batch * args.clients,
        "acked": acked, "failed": sum(r["failed"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]][:5],
        "window_s": last - first, "absorbed_traces_per_s": acked / (last - first),
        "absorbed_spans_per_s": SPANS_PER_TRACE * acked / (last - first),
        "request_ms": percentiles(requests), "last_answer": last,
        "server_cpu_s": cpu1 - cpu0, "peak_rss": peak.__dict__,
        "sample": [t for r in reports for t in r["sample"]],
        # The last 5 traces each client had acknowledged: what "readable" probes first.
        "last_ids": [t for r in reports for t in r["last_ids"][-5:]],
    }


def measure(system: System, args: argparse.Namespace, workdir: Path,
            seed: int) -> dict[str, Any]:
    import httpx

    start(system, workdir)
    assert system.process is not None
    result: dict[str, Any] = {"system": system.label, "title": system.title}
    with httpx.Client(base_url=system.url, timeout=120) as http:
        experiment_id = system.create_experiment(http, f"bench-server-{seed}")
        warm = system.create_experiment(http, f"bench-warmup-{seed}")
        body, _ = build_batches(1, args.batch, seed + 999)[0]
        http.post("/v1/traces", content=body, headers={
            "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
            system.otlp_header: warm}).raise_for_status()
        time.sleep(1.0)
        result["idle_rss"] = memory_of(system.process.pid).__dict__
        log(f"  {system.label}: ingesting ...")
        run = ingest(system, args, experiment_id, seed)
        # Readable: the last traces each client sent, by id, then every trace through the
        # search (which takes one whole count to tell).
        waiting = set(run["last_ids"])
        last_readable_s = None
        while waiting and time.time() - run["last_answer"] < args.readable_timeout:
            waiting = {t for t in waiting if system.num_spans(http, t) != SPANS_PER_TRACE}
            if not waiting:
                last_readable_s = time.time() - run["last_answer"]
            else:
                time.sleep(0.02)
        polls = []
        readable_s = None
        while True:
            poll_start = time.time()
            count = system.count(http, experiment_id)
            now = time.time()
            polls.append({"at_s": round(now - run["last_answer"], 3), "count": count,
                          "poll_s": round(now - poll_start, 3)})
            if count >= run["acked"]:
                readable_s = now - run["last_answer"]
                break
            if now - run["last_answer"] > args.readable_timeout:
                break
            time.sleep(0.05)
        result["after_rss"] = memory_of(system.process.pid).__dict__
        rng = random.Random(seed)
        checked = rng.sample(run["sample"], min(300, len(run["sample"])))
        spans = [system.num_spans(http, t) for t in checked]
        log(f"  {system.label}: {run['absorbed_traces_per_s']:.0f} traces/s absorbed, "
            f"{run['acked']} acknowledged, readable after {readable_s} s; feedback ...")
        targets = run["sample"]
        for i in range(20):
            system.log_feedback(http, rng.choice(targets), i)
        latencies, statuses = [], []
        for i in range(args.feedback):
            trace_id = rng.choice(targets)
            begin = time.perf_counter()
            statuses.append(system.log_feedback(http, trace_id, i))
            latencies.append(time.perf_counter() - begin)
    run.pop("sample")
    run.pop("last_ids")
    result.update({
        "ingest": run,
        "last_readable_s": last_readable_s, "readable_s": readable_s, "polls": polls,
        "final_count": polls[-1]["count"], "lost": run["acked"] - polls[-1]["count"],
        "spans_checked": len(spans), "incomplete": sum(1 for n in spans
                                                       if n != SPANS_PER_TRACE),
        "feedback_ms": percentiles(latencies),
        "feedback_failed": sum(1 for s in statuses if not 200 <= s < 300),
    })
    result["exit_code"] = stop(system)
    return result


def measure_sdk_over_http(system: System, traces: int) -> dict[str, Any]:
    """The SDK's own path: ``@assay.trace`` with the tracking URI set to the server.

    A child process records ``traces`` traces of 3 spans (three nested functions) in a tight
    loop, as an app would, and flushes; its exporter sends them as Assay's SDK does (whole
    traces as OTLP protobuf, ``assay.attribute_encoding = json``, the header on the root).
    Reported: the app's loop and flush times, its CPU, the server's CPU per trace, and how
    many traces the server's search then returns (lost = recorded but not returned).
    """
    import httpx

    code = f"""
import json, time, assay
assay.set_tracking_uri({system.url!r})
experiment = assay.set_experiment("bench-sdk-over-http-{uuid.uuid4().hex[:8]}")

@assay.trace
def inner(x): return x[:16]
@assay.trace
def middle(x): return inner(x + " (middle)")
@assay.trace
def outer(x): return middle(x + " (outer)")

cpu, start = time.process_time(), time.perf_counter()
for _ in range({traces}):
    outer("What is the capital of France?")
loop = time.perf_counter() - start
assay.flush_trace_async_logging()
total = time.perf_counter() - start
print(json.dumps({{"experiment_id": experiment.experiment_id, "traces": {traces},
                  "loop_s": loop, "flushed_s": total, "app_cpu_s": time.process_time() - cpu,
                  "traces_per_s_flushed": {traces} / total}}))
"""
    from tracing_overhead import assay_env

    assert system.process is not None
    pids = tree_pids(system.process.pid)
    cpu0 = sum(cpu_s(p) for p in pids)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=assay_env(), timeout=600)
    cpu1 = sum(cpu_s(p) for p in tree_pids(system.process.pid))
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"failed": f"exit code {done.returncode}: {done.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    with httpx.Client(base_url=system.url, timeout=120) as http:
        stored = system.count(http, result.pop("experiment_id"))
    result.update({"stored": stored, "lost": traces - stored,
                   "server_cpu_us_per_trace": 1e6 * (cpu1 - cpu0) / traces})
    return result


# -- the report ----------------------------------------------------------------------------

@dataclass
class Row:
    title: str
    get: Callable[[dict[str, Any]], float | None]
    fmt: str = "{:,.0f}"
    ratio: bool = True


def fmt(value: float | None, pattern: str) -> str:
    return "\u2013" if value is None else pattern.format(value)


ROWS = [
    Row("traces acknowledged", lambda r: r["ingest"]["acked"], ratio=False),
    Row("**traces/s absorbed**", lambda r: r["ingest"]["absorbed_traces_per_s"]),
    Row("spans/s absorbed", lambda r: r["ingest"]["absorbed_spans_per_s"]),
    Row("OTLP request, p50 ms", lambda r: r["ingest"]["request_ms"]["p50"], "{:,.1f}"),
    Row("OTLP request, p99 ms", lambda r: r["ingest"]["request_ms"]["p99"], "{:,.1f}"),
    Row("server CPU s per 1,000 traces",
        lambda r: 1000 * r["ingest"]["server_cpu_s"] / max(1, r["ingest"]["acked"]),
        "{:,.3f}"),
    Row("traces lost (acknowledged, never readable)", lambda r: r["lost"], ratio=False),
    Row("traces failed (not acknowledged)", lambda r: r["ingest"]["failed"], ratio=False),
    Row("of 300 random traces, not whole (3 spans)", lambda r: r["incomplete"], ratio=False),
    Row("**s from the last answer until the last traces are readable** (5 per client, by id)",
        lambda r: r["last_readable_s"], "{:,.2f}"),
    Row("s from the last answer until the search has returned them all",
        lambda r: r["readable_s"], "{:,.2f}"),
    Row("one count of every trace through the search, s",
        lambda r: r["polls"][-1]["poll_s"], "{:,.2f}"),
    Row("**log_feedback p50 ms**", lambda r: r["feedback_ms"]["p50"], "{:,.2f}"),
    Row("log_feedback p95 ms", lambda r: r["feedback_ms"]["p95"], "{:,.2f}"),
    Row("log_feedback p99 ms", lambda r: r["feedback_ms"]["p99"], "{:,.2f}"),
    Row("log_feedback failures", lambda r: r["feedback_failed"], ratio=False),
    Row("**RSS idle, MB** (process tree)", lambda r: r["idle_rss"]["tree"], "{:,.0f}"),
    Row("**RSS peak under load, MB** (process tree)",
        lambda r: r["ingest"]["peak_rss"]["tree"], "{:,.0f}"),
    Row("RSS peak, largest single process, MB",
        lambda r: r["ingest"]["peak_rss"]["largest"], "{:,.0f}"),
    Row("RSS after, MB (process tree)", lambda r: r["after_rss"]["tree"], "{:,.0f}"),
]


def markdown(results: list[dict[str, Any]], args: argparse.Namespace,
             info: dict[str, Any]) -> str:
    rate = "as fast as answered" if args.rate <= 0 else f"{args.rate:,.0f} traces/s"
    out = [f"{args.clients} clients, batches of {args.batch} traces x 3 spans (OTLP protobuf, "
           f"gzip), {rate} for {args.seconds:g} s; {args.feedback} log_feedback calls.", ""]
    titles = [r["title"] for r in results]
    mlflow = next((r for r in results if r["system"] == "mlflow"), None)
    assay = next((r for r in results if r["system"] == "assay"), None)
    header = "| figure | " + " | ".join(titles) + " |"
    with_ratio = mlflow is not None and assay is not None
    if with_ratio:
        header += " mlflow / Assay (SQLite) |"
    out += [header, "|---|" + "---|" * (len(titles) + with_ratio)]
    for row in ROWS:
        values = [row.get(r) for r in results]
        line = f"| {row.title} | " + " | ".join(fmt(v, row.fmt) for v in values) + " |"
        if with_ratio:
            assert mlflow is not None and assay is not None
            a, m = row.get(assay), row.get(mlflow)
            ratio = f"{m / a:,.1f}x" if row.ratio and a and m else ""
            line += f" {ratio} |"
        out.append(line)
    for r in results:
        if r["system"] == "mlflow":
            continue
        ing = r["ingest"]
        checks = [
            ("traces/s absorbed >= 3,000 with nothing lost",
             ing["absorbed_traces_per_s"] >= TARGET_TRACES_PER_S and r["lost"] == 0
             and ing["failed"] == 0),
            ("readable within 2 s", r["last_readable_s"] is not None
             and r["last_readable_s"] <= TARGET_READABLE_S),
            ("log_feedback p50 < 5 ms", r["feedback_ms"]["p50"] < TARGET_FEEDBACK_P50_MS),
            ("server memory < 200 MB", ing["peak_rss"]["tree"] < TARGET_RSS_MB),
        ]
        out.append("")
        out.append(f"Targets, {r['title']}: " + "; ".join(
            f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks) + ".")
    sdk = info.get("sdk")
    if sdk and "failed" in sdk:
        out += ["", f"SDK over HTTP: FAILED ({sdk['failed']})"]
    elif sdk:
        out += ["", f"SDK over HTTP (@assay.trace, tracking URI = the server): "
                    f"{sdk['traces']:,} traces recorded in {sdk['loop_s']:.2f} s, all sent "
                    f"after {sdk['flushed_s']:.2f} s ({sdk['traces_per_s_flushed']:,.0f} "
                    f"traces/s end to end); app CPU {sdk['app_cpu_s']:.2f} s; server CPU "
                    f"{sdk['server_cpu_us_per_trace']:,.0f} µs per trace; {sdk['stored']:,} "
                    f"stored, {sdk['lost']:,} lost."]
    m = info["machine"]
    out += ["", f"Machine: {m['cores']} cores, {m['cpu'] or '?'}, Python {m['python']}, load "
                f"{m['load_avg_1m']:.2f} at start. Calibration loop: "
                f"{info['calibration']['start']['median_ms']:.1f} ms at start, "
                f"{info['calibration']['end']['median_ms']:.1f} ms at end. {info['mlflow']}."]
    return "\n".join(out)


# -- the parent ----------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["parent", "client"], default="parent")
    parser.add_argument("--rate", type=float, default=3000.0,
                        help="traces per second, all clients together; 0: as fast as "
                             "answered (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long the clients send at --rate (default: %(default)s)")
    parser.add_argument("--max-traces", type=int, default=30_000,
                        help="with --rate 0: how many traces to send (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--batch", type=int, default=100, help="traces per OTLP request")
    parser.add_argument("--feedback", type=int, default=500, help="timed log_feedback calls")
    parser.add_argument("--readable-timeout", type=float, default=120.0)
    parser.add_argument("--skip-mlflow", action="store_true", help="measure Assay only")
    parser.add_argument("--postgres", action="store_true",
                        help="also Assay on PostgreSQL with 2 workers")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or DEFAULT_POSTGRES_URI)
    parser.add_argument("--sdk", action="store_true",
                        help="also time @assay.trace with the tracking URI set to the server")
    parser.add_argument("--sdk-traces", type=int, default=10_000,
                        help="traces the --sdk app records (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    parser.add_argument("--keep", action="store_true", help="keep the working directories")
    # client role
    parser.add_argument("--url")
    parser.add_argument("--headers", default="{}")
    parser.add_argument("--num-batches", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--offset", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "client":
        run_client(args)
        return 0
    sys.path.insert(0, str(HERE))
    from tracing_overhead import (
        DEFAULT_MLFLOW_VENV,
        calibrate,
        ensure_mlflow_venv,
        machine,
    )

    info: dict[str, Any] = {"machine": machine(), "calibration": {"start": calibrate()},
                            "mlflow": "mlflow skipped (--skip-mlflow)"}
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    systems: list[Callable[[], System]] = [lambda: assay_system(
        "assay", "Assay (SQLite, 1 worker)", f"sqlite:///{workdir / 'assay.db'}", 1, workdir)]
    if args.postgres:
        def postgres() -> System:
            uri, drop = postgres_schema(args.postgres_uri)
            return assay_system("assay-postgres", "Assay (PostgreSQL, 2 workers)", uri, 2,
                                workdir, drop)
        systems.append(postgres)
    if not args.skip_mlflow:
        python, why = ensure_mlflow_venv(DEFAULT_MLFLOW_VENV)
        info["mlflow"] = why
        if python is None:
            log(f"Skipping mlflow: {why}")
        else:
            systems.append(lambda: mlflow_system(python, workdir))
    results = []
    try:
        for make in systems:
            system = make()
            log(f"{system.title} ...")
            try:
                results.append(measure(system, args, workdir, args.seed))
                if args.sdk and system.label == "assay":
                    start(system, workdir)  # again, on the same database
                    info["sdk"] = measure_sdk_over_http(system, args.sdk_traces)
            finally:
                stop(system)
                system.cleanup()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")
    info["calibration"]["end"] = calibrate()
    if args.json:
        print(json.dumps({"info": info, "results": results}, indent=1))
    else:
        print(markdown(results, args, info))
    lost = any(r["lost"] or r["ingest"]["failed"] or r["incomplete"] for r in results
               if r["system"] != "mlflow")
    sdk = info.get("sdk")
    lost = lost or bool(sdk and ("failed" in sdk or sdk["lost"]))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
