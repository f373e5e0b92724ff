"""What the tests of examples/chat_app run it with (tests/examples for its endpoints,
tests/ui for its page): an Assay server on 127.0.0.1, the app as the README starts it
(``uvicorn examples.chat_app.main:app`` in a subprocess, from the repository root), an app of
chosen settings under uvicorn in a background thread, a reader of server-sent events that
follows the browser's rules, the OpenAI-compatible test server of ``tests/openai``, and
reads of what reached the server.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from assay.entities import Feedback, Trace
from assay.errors import NotFoundError
from assay.server import ServerSettings
from assay.store.sql import SqlStore
from local_http import LOCAL_TLS
from runtimes import default_runtime
from server.feedback_helpers import wait_for
from server.live import LiveServer
from server.processes import UvicornProcess
from threaded_server import ThreadedServer

REPO_ROOT = Path(__file__).resolve().parents[1]
# Variables of the developer's shell that would change what the app does.
_APP_VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "CHAT_APP_MODEL", "CHAT_APP_ASSAY_URL",
                  "CHAT_APP_EXPERIMENT", "CHAT_APP_TOKEN_DELAY", "ASSAY_EXPERIMENT_NAME",
                  "ASSAY_EXPERIMENT_ID", "ASSAY_API_KEY")


#: The experiment of the apps that run in the test process (they share its Assay runtime).
THREAD_EXPERIMENT = "chat-app-threads"


@dataclass(frozen=True)
class AssayServer:
    """The Assay server the apps send to, and its store (to check what arrived)."""

    url: str
    store: SqlStore


@dataclass(frozen=True)
class ChatApp:
    """A running chat app: its base URL, an HTTP client of it, and its experiment."""

    url: str
    http: httpx.Client
    experiment_name: str


@contextmanager
def assay_server_at(path: Path) -> Iterator[AssayServer]:
    """A real Assay server over a SQLite file at ``path``; pages of any origin may send it
    feedback (the apps' ports are not known before it starts)."""
    store = SqlStore(f"sqlite:///{path}")
    live = LiveServer(store, ServerSettings(port=0, backend_store_uri=store.uri,
                                            cors_origins=("*",)))
    live.start()
    try:
        yield AssayServer(live.url, store)
    finally:
        live.stop()
        store.close()


@contextmanager
def runtime_sending_to(server: AssayServer) -> Iterator[None]:
    """This process's Assay runtime sending to the server (the SDK over HTTP), for the apps
    that run in background threads here; a fresh in-memory one afterwards."""
    with default_runtime(server.url):
        yield


class AppProcess(UvicornProcess):
    """``uvicorn examples.chat_app.main:app --host 127.0.0.1 --port 0`` from the repository
    root, with ``env`` added to a clean environment; its output is kept."""

    def __init__(self, env: Mapping[str, str]) -> None:
        uvicorn_command = Path(sys.executable).parent / "uvicorn"
        environment = {k: v for k, v in os.environ.items() if k not in _APP_VARIABLES}
        environment.update(env)
        super().__init__([str(uvicorn_command), "examples.chat_app.main:app", "--host",
                          "127.0.0.1", "--port", "0"], REPO_ROOT, "the chat app", environment)

    def wait_ready(self, timeout: float = 60) -> str:
        """Wait until uvicorn says it serves (after the app's startup); the base URL."""
        return self.wait_bound(timeout)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 15 s) and wait for its output to end."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()


class ThreadedApp(ThreadedServer):
    """An ASGI app under uvicorn on 127.0.0.1 (a port the OS picks), in a background thread,
    with its lifespan run."""

    def start(self) -> str:  # type: ignore[override]
        super().start()
        return self.url


@contextmanager
def serve_app(**settings: Any) -> Iterator[ChatApp]:
    """A chat app of these settings (offline responder without pauses by default) in a
    background thread of this process."""
    from examples.chat_app.main import create_app
    from examples.chat_app.settings import ChatAppSettings

    chat_settings = ChatAppSettings(**{"experiment_name": THREAD_EXPERIMENT,
                                       "token_delay_seconds": 0, **settings})
    threaded = ThreadedApp(create_app(chat_settings), "chat-app-thread")
    url = threaded.start()
    try:
        with httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=30) as http:
            yield ChatApp(url, http, chat_settings.experiment_name)
    finally:
        threaded.stop()


@dataclass(frozen=True)
class ServerSentEvent:
    """One event as a browser's EventSource dispatches it."""

    type: str
    data: str

    def json(self) -> dict[str, Any]:
        value = json.loads(self.data)
        assert isinstance(value, dict)
        return value


def read_events(chunks: Iterator[bytes]) -> list[ServerSentEvent]:
    """The events of a ``text/event-stream`` body, by the HTML standard's parsing rules.

    UTF-8 decoded across chunk boundaries; lines end with CRLF, LF or CR; a line starting
    with ":" is a comment; ``field: value`` loses one space after the colon; ``data`` lines
    are joined with "\\n"; a blank line dispatches the event (type "message" unless
    ``event`` said otherwise) if it has data; an event not ended by a blank line when the
    stream closes is dropped.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    events: list[ServerSentEvent] = []
    kind = ""
    data: list[str] = []
    pending = ""

    def take(line: str) -> None:
        nonlocal kind, data
        if line == "":
            if data:
                events.append(ServerSentEvent(kind or "message", "\n".join(data)))
            kind, data = "", []
            return
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)

    for chunk in chunks:
        pending += decoder.decode(chunk)
        # A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        cut = len(pending) - 1 if pending.endswith("\r") else len(pending)
        *complete, rest = re.split(r"\r\n|\r|\n", pending[:cut])
        pending = rest + pending[cut:]
        for line in complete:
            take(line)
    pending += decoder.decode(b"", final=True)
    for line in re.split(r"\r\n|\r|\n", pending)[:-1]:
        take(line)
    return events


def stream_chat(http: httpx.Client, message: str,
                headers: Mapping[str, str] | None = None) -> tuple[httpx.Response,
                                                                    list[ServerSentEvent]]:
    """POST /chat/stream and read every event of the answer."""
    with http.stream("POST", "/chat/stream", json={"message": message},
                     headers=dict(headers or {})) as response:
        if response.status_code != 200:
            response.read()
            return response, []
        return response, read_events(response.iter_raw())


def compatible_server_module() -> ModuleType:
    """``tests/openai/compatible_server.py`` (its folder is not a package, so that a package
    named ``openai`` cannot hide the real one)."""
    loaded = sys.modules.get("compatible_server")
    if loaded is not None:
        return loaded
    path = REPO_ROOT / "tests" / "openai" / "compatible_server.py"
    spec = importlib.util.spec_from_file_location("compatible_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compatible_server"] = module
    spec.loader.exec_module(module)
    return module


# -- what reached the server ----------------------------------------------------------------

def stored(server: AssayServer, trace_id: str, num_assessments: int = 0) -> Trace:
    """The trace once the server has it (apps export in the background), with at least
    ``num_assessments`` assessments."""
    found: list[Trace] = []

    def arrived() -> bool:
        try:
            trace = server.store.get_trace(trace_id)
        except NotFoundError:
            return False
        found[:] = [trace]
        return len(trace.info.assessments) >= num_assessments

    wait_for(arrived, seconds=30)
    return found[0]


def feedback_named(trace: Trace, name: str) -> list[Feedback]:
    """The trace's feedback of this name, oldest first, overridden ones included."""
    found = [a for a in trace.info.assessments
             if isinstance(a, Feedback) and a.name == name]
    return sorted(found, key=lambda a: a.create_time_ms)


def experiment_id(server: AssayServer, app: ChatApp) -> str:
    """The id of the app's experiment on the server."""
    experiment = server.store.find_experiment_by_name(app.experiment_name)
    assert experiment is not None, f"no experiment {app.experiment_name!r} on the server"
    return experiment.experiment_id


def trace_of_user(server: AssayServer, app: ChatApp, user_id: str) -> Trace:
    """The one trace of this user in the app's experiment, once it arrived."""
    found: list[Trace] = []

    def arrived() -> bool:
        found[:] = server.store.search_traces([experiment_id(server, app)], max_results=10,
                                              filter_string=f"trace.user_id = '{user_id}'")
        return bool(found)

    wait_for(arrived, seconds=30)
    (trace,) = found
    return trace
