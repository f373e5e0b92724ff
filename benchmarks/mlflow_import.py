"""How fast ``assay import mlflow`` copies an MLflow store: traces per second from a
10,000-trace MLflow SQLite database into a fresh Assay store, and a second run (everything
already there, so all skipped).

The MLflow store is built as ``search.py`` builds its own: the schema by mlflow 3.17's
``MlflowClient`` (run in an mlflow venv), the rows by bulk inserts shaped exactly like the
rows mlflow writes when it logs a trace (``_mlflow_search.fill``: spans in the ``spans``
table as mlflow's span JSON, tags, metadata, 1 to 3 feedback a trace). Logging 10,000
traces through mlflow itself would take most of an hour; the rows are the same.

    python benchmarks/mlflow_import.py [--traces 10000] [--postgres URI]

The mlflow venv: ``--mlflow-python``, else ``benchmarks/.venv-mlflow``, else the tests'
(``.pytest_cache/d/mlflow-client/venv``), else ``benchmarks/.venv-mlflow`` is built as
``tracing_overhead.py`` builds it. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from assay.migration.importer import ImportSummary, import_mlflow  # noqa: E402
from search import postgres_schema  # noqa: E402


def mlflow_python(given: str | None) -> Path:
    if given:
        return Path(given)
    for candidate in (HERE / ".venv-mlflow" / "bin" / "python",
                      ROOT / ".pytest_cache" / "d" / "mlflow-client" / "venv" / "bin" / "python"):
        if candidate.exists():
            return candidate
    from tracing_overhead import ensure_mlflow_venv

    python, why = ensure_mlflow_venv(HERE / ".venv-mlflow")
    if python is None:
        sys.exit(f"no mlflow venv: {why}")
    return python


def build_store(python: Path, db: Path, traces: int) -> float:
    """Fill ``db`` with ``traces`` traces the way mlflow writes them; the seconds taken."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from _mlflow_search import fill; "
            "print(fill(Path(sys.argv[2]), int(sys.argv[3]), 1e9))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    started = time.perf_counter()
    subprocess.run([str(python), "-c", code, str(HERE), str(db), str(traces)], check=True,
                   env=env, cwd=db.parent, capture_output=True, text=True)
    return time.perf_counter() - started


def run_import(source_uri: str, target_uri: str, batch: int) -> tuple[float, ImportSummary]:
    from assay.migration.sources import open_source
    from assay.store.sql import SqlStore

    store = SqlStore(target_uri)
    source = open_source(source_uri)
    try:
        started = time.perf_counter()
        summary = import_mlflow(source, store, batch_size=batch, progress=False)
        return time.perf_counter() - started, summary
    finally:
        source.close()
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--mlflow-python", default=None)
    parser.add_argument("--postgres", default=None, metavar="URI",
                        help="also import into a new schema (dropped afterwards) of this "
                             "PostgreSQL database")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-import-") as folder:
        db = Path(folder) / "mlflow.db"
        python = mlflow_python(args.mlflow_python)
        built = build_store(python, db, args.traces)
        print(f"MLflow store: {args.traces} traces built in {built:.1f}s "
              f"({db.stat().st_size / 1e6:.1f} MB)")
        targets = [("SQLite", f"sqlite:///{Path(folder) / 'assay.db'}")]
        drops = []
        if args.postgres:
            made = postgres_schema(args.postgres)
            if made is not None:
                targets.append(("PostgreSQL", made[0]))
                drops.append(made[1])
        print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"({os.cpu_count()} cores)")
        print(f"{'target':<11} {'run':<7} {'seconds':>8} {'traces/s':>9} {'spans/s':>9} "
              f"{'copied':>7} {'skipped':>8}")
        for name, uri in targets:
            for run in ("first", "again"):
                seconds, summary = run_import(f"sqlite:///{db}", uri, args.batch_size)
                copied = summary.traces_copied
                skipped = summary.traces_skipped
                spans = summary.spans_copied
                rate = (copied or skipped) / seconds
                print(f"{name:<11} {run:<7} {seconds:>8.1f} {rate:>9.0f} "
                      f"{spans / seconds:>9.0f} {copied:>7} {skipped:>8}")
        for drop in drops:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
