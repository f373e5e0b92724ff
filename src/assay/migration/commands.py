"""``assay import mlflow`` and ``assay export``: moving in from MLflow and moving out."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

__all__ = ["add_migration_commands", "parse_since"]

_TARGET_HELP = ("the Assay store: sqlite:///path.db, postgresql://..., or http(s)://<assay "
                "server> (default: ASSAY_TRACKING_URI or sqlite:///assay.db)")


def parse_since(text: str) -> int:
    """A date (``2025-01-31``) or an ISO 8601 time (``2025-01-31T12:00:00+02:00``; UTC
    when it names no zone) as milliseconds since the epoch."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2025-01-31) or an ISO 8601 time, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _target(uri: str | None) -> Any:
    import assay
    from assay.store import open_store

    if uri:
        assay.set_tracking_uri(uri)
    return open_store(assay.get_tracking_uri())


def _import_mlflow(args: argparse.Namespace) -> int:
    from assay.migration.importer import import_mlflow
    from assay.migration.sources import open_source

    source = open_source(args.source)
    store = _target(args.tracking_uri)
    try:
        print(f"Importing from MLflow at {source.description} into {store.uri} ...",
              file=sys.stderr)
        try:
            summary = import_mlflow(source, store, experiment_names=args.experiment,
                                    since_ms=args.since, limit=args.limit,
                                    batch_size=args.batch_size,
                                    progress=False if args.no_progress else None)
        except KeyboardInterrupt:
            print("\nInterrupted: what was copied stays; run the same command again to go "
                  "on.", file=sys.stderr)
            return 130
    finally:
        source.close()
        store.close()
    for line in summary.lines():
        print(line)
    return 1 if summary.failed else 0


def _export(args: argparse.Namespace) -> int:
    from assay.migration.export import export_experiment

    store = _target(args.tracking_uri)
    try:
        result = export_experiment(store, args.experiment, args.out)
    finally:
        store.close()
    print(f"Exported {result.traces} traces ({result.spans} spans) and {result.assessments} "
          f"assessments of experiment {args.experiment!r}:")
    for path in result.files:
        print(f"  {path}")
    return 0


def add_migration_commands(sub: Any) -> None:
    """Add ``import`` (with its ``mlflow`` subcommand) and ``export`` to the subparsers
    ``sub`` of the ``assay`` command."""
    importing = sub.add_parser(
        "import", help="copy data into Assay from another tool (mlflow)",
        description="Copy data into Assay from another tool.")
    kinds = importing.add_subparsers(dest="import_kind", metavar="FROM", required=True)
    mlflow = kinds.add_parser(
        "mlflow", help="copy experiments, traces and assessments from an MLflow store",
        description="Copy experiments, traces with their spans, tags, metadata and "
                    "assessments (sources, overrides and history) from an MLflow tracking "
                    "store into Assay. Trace and assessment ids are kept: running it again "
                    "copies nothing twice, and an interrupted import goes on where it "
                    "stopped. Exits 1 if some traces could not be read (they are listed; a "
                    "later run tries them again).")
    mlflow.add_argument("--from", dest="source", required=True, metavar="URI",
                        help="the MLflow tracking store: sqlite:///mlflow.db (or the file's "
                             "path), postgresql://..., mysql://..., or http(s)://<mlflow "
                             "server>")
    mlflow.add_argument("--tracking-uri", default=None, help=_TARGET_HELP)
    mlflow.add_argument("--experiment", action="append", default=None, metavar="NAME",
                        help="only this MLflow experiment; repeat for several (default: "
                             "every experiment that is not deleted)")
    mlflow.add_argument("--since", type=parse_since, default=None, metavar="DATE",
                        help="only traces that started at or after this date or ISO 8601 "
                             "time (UTC unless it names a zone)")
    mlflow.add_argument("--limit", type=_positive, default=None, metavar="N",
                        help="stop after copying N traces (run again to go on)")
    mlflow.add_argument("--batch-size", type=_positive, default=200, metavar="N",
                        help="traces read and written a transaction (default: %(default)s)")
    mlflow.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it is shown on a terminal only anyway)")
    mlflow.set_defaults(func=_import_mlflow)

    export = sub.add_parser(
        "export", help="write an experiment's traces and assessments to files",
        description="Write an experiment's traces as OTLP JSON (one ExportTraceServiceRequest "
                    "a line, each trace's header on its root span, as Assay's SDK sends it) "
                    "and its traces and assessments as JSON lines (MLflow's JSON forms).")
    export.add_argument("--experiment", required=True, metavar="NAME",
                        help="the experiment to export")
    export.add_argument("--out", required=True, metavar="DIR",
                        help="the folder to write to (created if missing)")
    export.add_argument("--tracking-uri", default=None, help=_TARGET_HELP)
    export.set_defaults(func=_export)

