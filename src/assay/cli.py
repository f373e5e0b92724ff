"""The ``assay`` command: parse arguments, call functions, print."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assay.version import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import assay
    from assay.demo import record_demo

    if args.tracking_uri:
        assay.set_tracking_uri(args.tracking_uri)
    uri = assay.get_tracking_uri()
    print(f"Recording the demo experiment {args.experiment!r} into {uri} ...")
    summary = record_demo(experiment_name=args.experiment, num_conversations=args.conversations)
    print(f"Recorded {summary.num_traces} traces ({summary.num_spans} spans) in "
          f"{summary.num_sessions} sessions from {summary.num_users} users, with "
          f"{summary.num_assessments} feedback and expectations, into experiment "
          f"{summary.experiment_id}.")
    print()
    print("Look at them from Python:")
    print()
    print("    import assay")
    if args.tracking_uri:
        print(f"    assay.set_tracking_uri({uri!r})")
    print("    client = assay.AssayClient()")
    print(f"    traces = client.search_traces(experiment_names=[{args.experiment!r}], "
          f"max_results=5)")
    print("    for t in traces:")
    print("        print(t.info.trace_id, t.info.user_id, t.info.session_id,"
          " t.info.request_preview)")
    print("    print([(a.name, a.value) for a in traces[0].info.assessments])")
    print(f"    trace = assay.get_trace({summary.last_trace_id!r})")
    print("    for span in trace.data.spans: print(span.span_type, span.name)")
    return 0


def _server(args: argparse.Namespace) -> int:
    # Imported here: the server stack (FastAPI, uvicorn) is an extra the SDK never loads.
    try:
        from assay.server.run import serve
        from assay.server.settings import ServerSettings
    except ImportError as exc:
        print(f"assay: error: the server needs its extra ({exc.name} is missing): "
              "pip install 'assay[server]'", file=sys.stderr)
        return 2
    settings = ServerSettings(
        host=args.host, port=args.port, backend_store_uri=args.backend_store_uri,
        workers=args.workers, allow_remote=args.allow_remote,
        graceful_shutdown_seconds=args.graceful_shutdown_timeout, log_level=args.log_level)
    serve(settings.check())
    return 0


def _version(_: argparse.Namespace) -> int:
    print(f"assay {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Assay: tracing, human feedback and evaluation for LLM applications.")
    parser.add_argument("--version", action="version", version=f"assay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="record a realistic demo experiment (a RAG chatbot)")
    demo.add_argument("--tracking-uri", default=None,
                      help="where to record (default: ASSAY_TRACKING_URI or sqlite:///assay.db)")
    demo.add_argument("--experiment", default="assay-demo/rag-chatbot",
                      help="the demo experiment's name (default: %(default)s)")
    demo.add_argument("--conversations", type=int, default=40,
                      help="number of multi-turn conversations (default: %(default)s)")
    demo.set_defaults(func=_demo)

    server = sub.add_parser(
        "server", help="run the tracking server (REST API over a SQL store)",
        description="Run Assay's tracking server. There is no authentication yet, so it only "
                    "listens on a loopback address unless --allow-remote is given.")
    server.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: %(default)s)")
    server.add_argument("--port", type=int, default=5000,
                        help="the port to listen on (default: %(default)s)")
    server.add_argument("--backend-store-uri", default="sqlite:///assay.db",
                        help="where the data is: sqlite:///path.db or "
                             "postgresql://user:password@host:port/db (default: %(default)s)")
    server.add_argument("--workers", type=int, default=1,
                        help="worker processes, each with its own connections "
                             "(default: %(default)s)")
    server.add_argument("--allow-remote", action="store_true",
                        help="listen on a non-loopback address although the server has no "
                             "authentication yet: anyone who can reach the port can read and "
                             "change everything; only on a trusted network")
    server.add_argument("--graceful-shutdown-timeout", type=float, default=30.0,
                        metavar="SECONDS",
                        help="how long requests in flight may finish when stopping "
                             "(default: %(default)s)")
    server.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="log level; the access log is at info (default: %(default)s)")
    server.set_defaults(func=_server)

    version = sub.add_parser("version", help="print Assay's version")
    version.set_defaults(func=_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from assay.errors import AssayError

    try:
        code: int = args.func(args)
    except AssayError as exc:
        print(f"assay: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
