"""Search and feedback analytics at scale: Assay on SQLite and PostgreSQL, beside mlflow.

What it does:

1. fills a fresh store with ``--traces`` synthetic traces (default 1,000,000; see
   ``_search_data.py``: 3 spans each, 10,000 users, sessions of 5 turns, tags, feedback on
   20% of the traces) with bulk inserts straight into the tables (``executemany`` in one
   transaction on SQLite, ``COPY`` on PostgreSQL), then runs ``ANALYZE``;
2. times, through ``AssayClient`` as an application would call it (spans and assessments
   loaded), each query ``--reps`` times after one warm-up, and reports the median and best:

   * lookup by client_request_id (``max_results=1``),
   * the first page (100) of one user's traces (the seeds' ``tags.`mlflow.trace.user```),
   * the first page with ``feedback.user_feedback = 'false'``,
   * page 1,000 by cursor (the token is found by paging headers only; the page is timed),
   * the first page ordered by ``execution_time_ms DESC``,
   * ``get_feedback_summary`` over all traces, by day;

3. unless ``--skip-mlflow``: fills mlflow 3.17's own SQLite schema (in
   ``benchmarks/.venv-mlflow``) with the same traces, as many as ``--mlflow-traces`` allows
   within ``--mlflow-fill-budget`` seconds, fills an Assay SQLite store with the same number,
   and runs the same queries on both, back to back, for same-run ratios. mlflow's summary
   is what the seeds do (search the traces, then ``get_trace`` each and count), over the
   last hour only (Assay runs ``get_feedback_summary`` with the same filter).

Usage::

    python benchmarks/search.py                      # 1M traces; PostgreSQL if reachable
    python benchmarks/search.py --traces 100000 --skip-mlflow
    python benchmarks/search.py --postgres-uri postgresql://user@host/db

PostgreSQL comes from ``--postgres-uri`` or ``ASSAY_TEST_POSTGRES_URI`` (default
``postgresql://postgres@127.0.0.1:5432/test``); the data goes into a scratch schema that is
dropped at the end. No assertions: this prints figures (and ``--json`` writes them).
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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _search_data import SPREAD_MS, START_MS, WINDOW_MS, TraceRow, generate  # noqa: E402

from assay.client import AssayClient  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402
from assay.store.sql.engine import create_engine  # noqa: E402

DEFAULT_POSTGRES_URI = "postgresql://postgres@127.0.0.1:5432/test"
MLFLOW_RESULT_PREFIX = "MLFLOW-SEARCH-RESULT "
BATCH = 20_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- filling an Assay store ------------------------------------------------------------------

TRACE_COLUMNS = ("trace_id", "experiment_id", "request_time_ms", "execution_time_ms", "state",
                 "name", "client_request_id", "session_id", "user_id", "request_preview",
                 "response_preview")
SPAN_COLUMNS = ("trace_id", "span_id", "parent_id", "name", "span_type", "status_code",
                "status_message", "start_time_ns", "end_time_ns", "inputs", "outputs",
                "attributes", "events")
KV_COLUMNS = ("trace_id", "key", "value")
ASSESSMENT_COLUMNS = ("assessment_id", "trace_id", "experiment_id", "name", "kind", "value",
                      "numeric_value", "source_type", "source_id", "metadata",
                      "create_time_ms", "last_update_time_ms", "valid")


def assay_rows(batch: list[TraceRow], experiment: int,
               true: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each table for a batch of traces."""
    out: dict[str, list[tuple[Any, ...]]] = {
        "traces": [], "trace_tags": [], "trace_metadata": [], "spans": [], "assessments": []}
    for t in batch:
        out["traces"].append((t.trace_id, experiment, t.request_time_ms, t.execution_time_ms,
                              t.state, "chat", t.client_request_id, t.session_id, t.user_id,
                              '{"question":"What is MLflow?"}', "MLflow is an open-source…"))
        out["trace_tags"] += [(t.trace_id, "mlflow.traceName", "chat"),
                              (t.trace_id, "env", t.env)]
        out["trace_metadata"] += [(t.trace_id, "mlflow.trace.user", t.user_id),
                                  (t.trace_id, "mlflow.trace.session", t.session_id),
                                  (t.trace_id, "mlflow.trace_schema.version", "3")]
        for s in t.spans:
            out["spans"].append((t.trace_id, s.span_id, s.parent_id, s.name, s.span_type,
                                 "OK" if t.state == "OK" else "UNSET", "", s.start_ns,
                                 s.end_ns, s.inputs, s.outputs,
                                 json.dumps(s.attributes, separators=(",", ":")), "[]"))
        for f in t.feedback:
            value = json.dumps(f.value)
            out["assessments"].append((
                f.assessment_id, t.trace_id, experiment, f.name, "feedback", value,
                float(f.value), "HUMAN", f.source_id, "{}", t.request_time_ms + 60_000,
                t.request_time_ms + 60_000, true))
    return out


_COLUMNS = {"traces": TRACE_COLUMNS, "trace_tags": KV_COLUMNS, "trace_metadata": KV_COLUMNS,
            "spans": SPAN_COLUMNS, "assessments": ASSESSMENT_COLUMNS}


_SECONDARY_INDEXES = {
    # the store's own secondary indexes, dropped during the bulk load and built again after
    # (building an index once is much faster than maintaining it row by row)
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                  "current_schema() AND indexname NOT IN (SELECT conname FROM pg_constraint)",
}


def fill_assay(uri: str, n: int) -> float:
    """Create the schema, then bulk-insert ``n`` traces; returns the seconds it took."""
    started = time.perf_counter()
    store = SqlStore(uri)
    experiment = int(store.create_experiment("bench-search"))
    store.close()
    engine, dialect = create_engine(uri)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        postgres = dialect.value == "postgresql"
        cursor.execute(_SECONDARY_INDEXES[dialect.value])
        indexes = list(cursor.fetchall())
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        if postgres:
            raw.commit()
            # Foreign-key checks run as a trigger per row and dominate a COPY; the rows are
            # consistent by construction. Needs a superuser; without one they just run.
            import psycopg

            try:
                cursor.execute("SET session_replication_role = replica")
            except psycopg.errors.InsufficientPrivilege:
                raw.rollback()
        else:
            # A throwaway database: no need to survive a crash while filling it.
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.execute("BEGIN")
        for number, batch in enumerate(_batches(generate(n), BATCH)):
            for table, rows in assay_rows(batch, experiment, True if postgres else 1).items():
                columns = _COLUMNS[table]
                if postgres:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * len(columns))
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            if postgres:
                raw.commit()
            if number % 10 == 9:
                log(f"  {(number + 1) * BATCH:,} traces ({time.perf_counter() - started:.0f} s)")
        if not postgres:
            cursor.execute("COMMIT")
        log(f"  building {len(indexes)} indexes ({time.perf_counter() - started:.0f} s)")
        if postgres:
            cursor.execute("RESET session_replication_role")
        for _, definition in indexes:
            cursor.execute(definition)
        raw.commit()
        if postgres:  # VACUUM cannot run in a transaction; it also sets the visibility map
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - started


def _batches(rows: Iterator[TraceRow], size: int) -> Iterator[list[TraceRow]]:
    batch: list[TraceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- timing ----------------------------------------------------------------------------------

def timed(fn: Callable[[], object], reps: int) -> dict[str, float]:
    """Median and best of ``reps`` calls after one warm-up, in ms."""
    fn()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "best_ms": min(samples)}


def assay_queries(uri: str, n: int, reps: int, window_only: bool) -> dict[str, Any]:
    """The benchmark's queries against an Assay store holding ``n`` traces."""
    client = AssayClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bench-search")
    assert experiment is not None
    ids = [experiment.experiment_id]
    middle = n // 2
    user = f"user-{((middle // 5) * 7919) % 10_000}"
    results: dict[str, Any] = {}

    def search(**kwargs: Any) -> Any:
        return client.search_traces(experiment_ids=ids, **kwargs)

    found = search(filter_string=f"attributes.client_request_id = 'req-{middle:07d}'",
                   max_results=1)
    assert len(found) == 1, found
    results["lookup by client_request_id"] = timed(lambda: search(
        filter_string=f"attributes.client_request_id = 'req-{middle:07d}'", max_results=1), reps)
    results["first page by user"] = timed(lambda: search(
        filter_string=f"tags.`mlflow.trace.user` = '{user}'", max_results=100), reps)
    results["first page by feedback.user_feedback = 'false'"] = timed(lambda: search(
        filter_string="feedback.user_feedback = 'false'", max_results=100), reps)
    pages = min(1000, n // 100)
    token = None
    for _ in range(pages - 1):
        token = search(max_results=100, page_token=token, include_spans=False).token
    results[f"page {pages:,} by cursor"] = timed(
        lambda: search(max_results=100, page_token=token), reps)
    results["first page by execution_time_ms DESC"] = timed(lambda: search(
        order_by=["execution_time_ms DESC"], max_results=100), reps)
    if not window_only:
        results["feedback summary, all traces by day"] = timed(
            lambda: client.get_feedback_summary(ids, time_bucket="day"), max(1, reps // 3))
    cutoff = START_MS + SPREAD_MS - WINDOW_MS
    summary = client.get_feedback_summary(ids, filter_string=f"trace.timestamp_ms > {cutoff}")
    results["feedback summary, last hour"] = timed(
        lambda: client.get_feedback_summary(ids, filter_string=f"trace.timestamp_ms > {cutoff}"),
        max(1, reps // 3))
    fb = summary.overall.assessments.get("user_feedback")
    results["check: last hour"] = {
        "traces": summary.overall.num_traces,
        "with_feedback": summary.overall.num_traces_with_feedback,
        "positive": fb.boolean.positive if fb and fb.boolean else 0,
        "negative": fb.boolean.negative if fb and fb.boolean else 0}
    return results


# -- PostgreSQL scratch schema ---------------------------------------------------------------

def postgres_schema(base: str) -> tuple[str, Callable[[], None]] | None:
    """A URI on a new schema of the server, and a function that drops it; None if the
    server cannot be reached."""
    try:
        import psycopg
    except ImportError:
        return None
    libpq = base.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(libpq, connect_timeout=3, autocommit=True) as conn:
            schema = f"assay_bench_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        log(f"PostgreSQL not reachable ({exc.__class__.__name__}); skipping it")
        return None

    def drop() -> None:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}', safe='')}", drop


# -- mlflow ------------------------------------------------------------------------------------

def run_mlflow(n: int, budget: float, reps: int, workdir: Path) -> dict[str, Any] | None:
    from tracing_overhead import DEFAULT_MLFLOW_VENV, ensure_mlflow_venv

    python, why = ensure_mlflow_venv(DEFAULT_MLFLOW_VENV)
    if python is None:
        log(f"mlflow unavailable: {why}")
        return None
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    out = subprocess.run(
        [str(python), str(HERE / "_mlflow_search.py"), "--traces", str(n), "--budget",
         str(budget), "--reps", str(reps), "--db", str(workdir / "mlflow.db")],
        capture_output=True, text=True, env=env, cwd=workdir)
    sys.stderr.write(out.stderr[-3000:])
    for line in out.stdout.splitlines():
        if line.startswith(MLFLOW_RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(MLFLOW_RESULT_PREFIX):])
            return result
    log(f"mlflow side failed (exit {out.returncode})")
    return None


# -- main --------------------------------------------------------------------------------------

def print_table(title: str, results: dict[str, Any]) -> None:
    print(f"\n{title}")
    for name, figures in results.items():
        if "median_ms" in figures:
            print(f"  {name:<50} {figures['median_ms']:>10.1f} ms   (best "
                  f"{figures['best_ms']:.1f})")
        else:
            print(f"  {name:<50} {figures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or DEFAULT_POSTGRES_URI)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-traces", type=int, default=1_000_000,
                        help="fill mlflow up to this many traces (default 1,000,000)")
    parser.add_argument("--mlflow-fill-budget", type=float, default=300.0,
                        help="seconds mlflow's fill may take; it stops at that size")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"traces": args.traces}
    with tempfile.TemporaryDirectory(prefix="assay-bench-search-") as tmp:
        workdir = Path(tmp)
        if not args.skip_sqlite:
            uri = f"sqlite:///{workdir / 'assay.db'}"
            log(f"Filling Assay SQLite with {args.traces:,} traces ...")
            fill = fill_assay(uri, args.traces)
            results = assay_queries(uri, args.traces, args.reps, window_only=False)
            report["assay-sqlite"] = {"fill_s": fill, **results}
            print_table(f"Assay, SQLite, {args.traces:,} traces (filled in {fill:.0f} s)",
                        results)
            (workdir / "assay.db").unlink()
        scratch = None if args.skip_postgres else postgres_schema(args.postgres_uri)
        if scratch is not None:
            uri, drop = scratch
            try:
                log(f"Filling Assay PostgreSQL with {args.traces:,} traces ...")
                fill = fill_assay(uri, args.traces)
                results = assay_queries(uri, args.traces, args.reps, window_only=False)
                report["assay-postgresql"] = {"fill_s": fill, **results}
                print_table(f"Assay, PostgreSQL, {args.traces:,} traces (filled in "
                            f"{fill:.0f} s)", results)
            finally:
                drop()
        if not args.skip_mlflow:
            log(f"Filling mlflow (up to {args.mlflow_traces:,} traces, "
                f"{args.mlflow_fill_budget:.0f} s) ...")
            mlflow = run_mlflow(args.mlflow_traces, args.mlflow_fill_budget, args.reps, workdir)
            if mlflow is not None:
                size = mlflow.pop("traces")
                mlflow_fill = mlflow.pop("fill_s")
                log(f"Filling Assay SQLite with mlflow's {size:,} traces ...")
                uri = f"sqlite:///{workdir / 'assay-same.db'}"
                fill_assay(uri, size)
                assay = assay_queries(uri, size, args.reps, window_only=True)
                report["mlflow"] = {"traces": size, "fill_s": mlflow_fill, **mlflow}
                report["assay-sqlite-same-size"] = assay
                print_table(f"mlflow 3.17, SQLite, {size:,} traces (filled in "
                            f"{mlflow_fill:.0f} s)", mlflow)
                print_table(f"Assay, SQLite, the same {size:,} traces", assay)
                print(f"\nmlflow / Assay (same run, {size:,} traces, SQLite):")
                for name, figures in assay.items():
                    other = mlflow.get(name)
                    if other and "median_ms" in figures and "median_ms" in other:
                        ratio = other["median_ms"] / figures["median_ms"]
                        print(f"  {name:<50} {ratio:>8.1f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
