"""The ``assay`` command: parse arguments, call functions, print."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from assay.migration.commands import add_migration_commands
from assay.user_commands import add_user_commands
from assay.version import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import assay
    from assay.demo import record_demo

    if args.tracking_uri:
        assay.set_tracking_uri(args.tracking_uri)
    uri = assay.get_tracking_uri()
    if args.conversations < 1:
        print(f"assay: error: --conversations must be 1 or more, got {args.conversations}",
              file=sys.stderr)
        return 2
    # Say so now if the port is taken, rather than after recording.
    if not args.no_serve and not _port_is_free(args.port):
        print(f"assay: error: port {args.port} on 127.0.0.1 is in use; pick another with "
              "--port, or pass --no-serve", file=sys.stderr)
        return 2
    existing = assay.get_experiment_by_name(args.experiment)
    if existing is not None and not args.reset and assay.AssayClient().search_traces(
            [existing.experiment_id], max_results=1):
        # Run again, the demo keeps what is there: its links, and what was added in the UI.
        print(f"The demo experiment {args.experiment!r} is already in {uri}: showing it as it "
              "is (--reset records it again).")
        if args.no_serve:
            return 0
        return _serve_demo(uri, args.port, existing.experiment_id)
    print(f"Recording the demo experiment {args.experiment!r} into {uri} through the example "
          "chat app ...")
    try:
        summary = record_demo(experiment_name=args.experiment,
                              num_conversations=args.conversations)
    except ImportError as exc:
        # The demo drives the example chat app, a FastAPI app reached through httpx.
        print(f"assay: error: the demo runs the example chat app, which needs the server "
              f"extra ({exc.name} is missing): pip install 'assay[server]'", file=sys.stderr)
        return 2
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
    if args.no_serve:
        return 0
    return _serve_demo(uri, args.port, summary.experiment_id)


def _port_is_free(port: int) -> bool:
    """Whether the server could listen on ``port`` at 127.0.0.1: asked as the server binds,
    with SO_REUSEADDR, so that a port whose last connections are closing counts as free."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _serve_demo(uri: str, port: int, experiment_id: str) -> int:
    """Serve the demo's store on 127.0.0.1 and say which page to open, until Ctrl-C."""
    from assay.store.uri import mask_uri

    if ":memory:" in uri:
        print("assay: error: an in-memory database cannot be served; record into a file "
              "(--tracking-uri sqlite:///demo.db) or pass --no-serve", file=sys.stderr)
        return 2
    try:
        from assay.server.run import serve
        from assay.server.settings import ServerSettings
    except ImportError as exc:
        print(f"assay: error: the demo is recorded, but showing it needs the server extra "
              f"({exc.name} is missing): pip install 'assay[server]'", file=sys.stderr)
        return 2
    settings = ServerSettings(host="127.0.0.1", port=port, backend_store_uri=uri).check()
    base = f"http://127.0.0.1:{port}"
    print()
    print(f"Serving {mask_uri(uri)} at {base} (Ctrl-C to stop). Open the demo's traces:")
    print()
    print(f"    {base}/experiments/{experiment_id}")
    print()
    print(f"and its feedback dashboard: {base}/experiments/{experiment_id}/dashboard", flush=True)
    serve(settings)
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
    if args.allow_remote:
        print("assay: warning: --allow-remote is deprecated; it means --insecure-no-auth "
              "(or start the server with --auth)", file=sys.stderr)
    settings = ServerSettings(
        host=args.host, port=args.port, backend_store_uri=args.backend_store_uri,
        workers=args.workers, auth=args.auth,
        insecure_no_auth=args.insecure_no_auth or args.allow_remote,
        graceful_shutdown_seconds=args.graceful_shutdown_timeout, log_level=args.log_level,
        max_request_bytes=args.max_request_mb, max_spans_per_request=args.max_spans_per_request,
        max_attribute_bytes=args.max_attribute_mb,
        pending_feedback_ttl_seconds=args.pending_feedback_ttl,
        cors_origins=tuple(args.cors_origin),
        allowed_hosts=tuple(args.allowed_host),
        feedback_rate_limit_per_minute=args.feedback_rate_limit,
        statement_timeout_seconds=args.statement_timeout)
    serve(settings.check())
    return 0


def _mib_to_bytes(text: str) -> int:
    """A size given in MiB (``0.5``, ``32``) as bytes; argparse reports what is wrong."""
    try:
        mib = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MiB, got {text!r}") from None
    if not math.isfinite(mib) or mib * 1024 * 1024 < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of MiB, got {text!r}")
    return round(mib * 1024 * 1024)


def _version(_: argparse.Namespace) -> int:
    print(f"assay {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Assay: tracing, human feedback and evaluation for LLM applications.")
    parser.add_argument("--version", action="version", version=f"assay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="record a realistic demo experiment (a RAG chatbot) and serve the web UI",
        description="Record a realistic demo experiment (a RAG chatbot with users, sessions "
                    "and feedback) into the tracking store, then start the server on it and "
                    "print the page to open. --no-serve only records. Run again, it shows "
                    "what is there (--reset records it anew).")
    demo.add_argument("--tracking-uri", default=None,
                      help="where to record (default: ASSAY_TRACKING_URI or sqlite:///assay.db)")
    demo.add_argument("--experiment", default="assay-demo/rag-chatbot",
                      help="the demo experiment's name (default: %(default)s)")
    demo.add_argument("--conversations", type=int, default=120,
                      help="number of multi-turn conversations (default: %(default)s)")
    demo.add_argument("--port", type=int, default=5000,
                      help="the port the web UI is served on, at 127.0.0.1 "
                           "(default: %(default)s)")
    demo.add_argument("--no-serve", action="store_true",
                      help="record the demo and exit, without starting the server")
    demo.add_argument("--reset", action="store_true",
                      help="record the demo experiment again although it is there (its "
                           "traces, and what was added to them, are replaced)")
    demo.set_defaults(func=_demo)

    server = sub.add_parser(
        "server", help="run the tracking server (REST API over a SQL store)",
        description="Run Assay's tracking server. Without --auth it only listens on a "
                    "loopback address, unless --insecure-no-auth is given.")
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
    server.add_argument("--auth", action="store_true",
                        help="require an API key or a sign-in, and check each user's role "
                             "(create users with 'assay users create')")
    server.add_argument("--insecure-no-auth", action="store_true",
                        help="listen on a non-loopback address without --auth: anyone who "
                             "can reach the port can read and change everything; only on a "
                             "trusted network")
    server.add_argument("--allow-remote", action="store_true",
                        help="deprecated: the old name of --insecure-no-auth")
    server.add_argument("--graceful-shutdown-timeout", type=float, default=30.0,
                        metavar="SECONDS",
                        help="how long requests in flight may finish when stopping "
                             "(default: %(default)s)")
    server.add_argument("--max-request-mb", type=_mib_to_bytes, default="32", metavar="MiB",
                        help="the largest request body, as sent and once decompressed; "
                             "larger ones get 413 (default: %(default)s)")
    server.add_argument("--max-spans-per-request", type=int, default=10_000, metavar="N",
                        help="the most spans one OTLP request may hold (default: %(default)s)")
    server.add_argument("--max-attribute-mb", type=_mib_to_bytes, default="16", metavar="MiB",
                        help="the largest span attribute (inputs and outputs too) or "
                             "assessment value (default: %(default)s)")
    server.add_argument("--pending-feedback-ttl", type=int, default=86_400, metavar="SECONDS",
                        help="how long feedback for a trace that has not arrived yet is kept "
                             "for it, then dropped and counted (default: %(default)s)")
    server.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="an origin (https://app.example.com) whose pages may post votes "
                             "to /api/v1/feedback; repeat for several, * for any (default: "
                             "none, same-origin only)")
    server.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name that requests may be addressed to (the Host "
                             "header) besides localhost, 127.0.0.1 and [::1]; repeat for "
                             "several, * for any (default: only those without --auth, any "
                             "with it; a guard against DNS rebinding)")
    server.add_argument("--feedback-rate-limit", type=int, default=30, metavar="PER_MINUTE",
                        help="requests a minute one feedback token may make to "
                             "/api/v1/feedback, per worker (default: %(default)s)")
    server.add_argument("--statement-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long one database query of a request may run; then it is "
                             "stopped and answered 504 QUERY_TIMEOUT (default: %(default)s)")
    server.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"],
                        help="log level; the access log is at info (default: %(default)s)")
    server.set_defaults(func=_server)
    add_user_commands(sub)
    add_migration_commands(sub)

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
