"""Hostile input against a real ``assay server`` process, on SQLite and on PostgreSQL: what an
attacker or a careless client sends (huge and compressed bodies, deep nesting, huge and
pathological filters, NUL characters, extreme numbers, unknown fields, wrong content types,
truncated protobuf, a slow partial body, a role escalation, concurrent votes).

Each case asserts what the server owes anyone: no 5xx; every answer within
:data:`ANSWER_SECONDS` (the client gives up then, so a case always ends); ``/health``
answering throughout (a thread polls it and keeps the worst latency); the server's peak
memory (``VmHWM`` of ``/proc/<pid>/status``) under :data:`PEAK_RSS_MB`; and the process alive
at the end. A case that leaves the server dead, frozen or over its memory is failed and the
server started again, so that the cases after it still mean something. The numbers (requests,
4xx, 5xx, worst answer, worst /health, peak memory) are printed as one line per database.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from assay.entities.user import Role
from assay.errors import InvalidParameterError
from assay.store.sql import SqlStore
from database_templates import new_schema
from local_http import LOCAL_TLS
from server.bombs import zeros_bomb
from server.otlp_requests import PROTOBUF, make_batch
from server.processes import ServerProcess

#: Every answer must come within this many seconds (and the client waits no longer).
ANSWER_SECONDS = 5.0
#: The worst /health latency allowed while a case runs.
HEALTH_SECONDS = 5.0
#: The server's peak resident memory allowed, in MB.
PEAK_RSS_MB = 400
#: Beyond this the server is killed at once, whatever the case: it protects the machine.
KILL_RSS_MB = 1000
#: The server's --max-request-mb: above the 10 MB filter below, so that the filter itself
#: (not the body limit) is what is tested.
MAX_REQUEST_MB = 16
MIB = 1024 * 1024
#: PostgreSQL only: a statement timeout on the test's own connection URI, far above
#: ANSWER_SECONDS, so that a query the server leaves running does not load the shared
#: database for minutes after its case has failed.
PG_SAFETY_TIMEOUT_MS = 20_000

REGEX_SPAN_NAME = "a" * 40 + "!"
QUESTION = "What is the airspeed velocity of an unladen swallow in May?"


def _kb_field(pid: int, name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


@dataclass
class Totals:
    """What the whole run against one database saw."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    worst_answer: float = 0.0
    worst_health: float = 0.0
    peak_kb: int = 0
    restarts: int = 0

    def line(self, backend: str) -> str:
        return (f"hostile[{backend}]: {self.requests} requests, {self.client_errors} 4xx, "
                f"{self.server_errors} 5xx, worst answer {self.worst_answer:.2f} s, worst "
                f"/health {self.worst_health:.2f} s, peak memory {self.peak_kb / 1024:.0f} MB "
                f"(VmHWM), {self.restarts} restarts")


@dataclass
class Harness:
    """One ``assay server`` process over one database, a client of it, a /health poller and
    what each case found wrong."""

    backend: str
    uri: str
    tmp_path: Path
    totals: Totals = field(default_factory=Totals)
    problems: list[str] = field(default_factory=list)
    server: ServerProcess | None = None
    http: httpx.Client | None = None
    _case_worst_health: float = 0.0
    _health_since: float | None = None  # when the /health request in flight was sent
    _case_peak_kb: int = 0
    _killed: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    # -- the server ------------------------------------------------------------------------

    def start(self) -> None:
        self.server = ServerProcess(self.uri, self.tmp_path, "--max-request-mb",
                                    str(MAX_REQUEST_MB))
        url = self.server.wait_ready(60)
        self.http = httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=ANSWER_SECONDS)
        self._case_peak_kb = 0  # the last process's peak is not this one's
        self._stop.clear()
        self._threads = [threading.Thread(target=self._poll, name="health-poller", daemon=True),
                         threading.Thread(target=self._guard, name="memory-guard", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.kill()  # first: a /health request waiting on a frozen server ends
        for thread in self._threads:
            thread.join(timeout=15)
        if self.http is not None:
            self.http.close()

    def restart(self) -> None:
        self.stop()
        self.totals.restarts += 1
        self.start()

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.process.pid

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def _guard(self) -> None:
        # Memory every 20 ms, never blocked by the server: past KILL_RSS_MB it is killed.
        while not self._stop.is_set():
            rss = _kb_field(self.pid, "VmRSS")
            self._case_peak_kb = max(self._case_peak_kb, _kb_field(self.pid, "VmHWM"))
            if rss > KILL_RSS_MB * 1024 and self.server is not None:
                self._killed = f"killed at {rss / 1024:.0f} MB resident (memory guard)"
                self.server.process.kill()
                return
            self._stop.wait(0.02)

    def _poll(self) -> None:
        # /health every 0.1 s while the server runs.
        with httpx.Client(base_url=self.url, verify=LOCAL_TLS, timeout=30) as health:
            while not self._stop.is_set():
                started = self._health_since = time.monotonic()
                # No answer at all counts too, for as long as it waited.
                with contextlib.suppress(httpx.HTTPError):
                    health.get("/health")
                self._health_since = None
                # Until it answered, or until the server was killed under it.
                elapsed = time.monotonic() - started
                self._case_worst_health = max(self._case_worst_health, elapsed)
                if self.server is None or self.server.process.poll() is not None:
                    return
                self._stop.wait(0.1)

    # -- a case ----------------------------------------------------------------------------

    def begin(self) -> None:
        self.problems = []
        self._case_worst_health = 0.0
        self._case_peak_kb = 0  # end() reads the process's peak (VmHWM) itself
        self._killed = ""

    def end(self) -> list[str]:
        """The case's problems, with the server's state after it; restarts a server that
        is dead, frozen or over its memory."""
        alive = self.server is not None and self.server.process.poll() is None
        self._case_peak_kb = max(self._case_peak_kb, _kb_field(self.pid, "VmHWM"))
        healthy = alive and self._health_now()
        waiting = self._health_since
        if waiting is not None:  # the poller's /health has had no answer for this long
            self._case_worst_health = max(self._case_worst_health,
                                          time.monotonic() - waiting)
        problems = list(self.problems)
        if self._killed:
            problems.append(self._killed)
        elif not alive:
            problems.append("the server process died")
        elif not healthy:
            problems.append(f"/health does not answer within {HEALTH_SECONDS} s after the case")
        if self._case_worst_health > HEALTH_SECONDS:
            problems.append(f"/health took {self._case_worst_health:.1f} s during the case")
        if self._case_peak_kb > PEAK_RSS_MB * 1024:
            problems.append(f"peak memory {self._case_peak_kb / 1024:.0f} MB, over "
                            f"{PEAK_RSS_MB} MB")
        self.totals.worst_health = max(self.totals.worst_health, self._case_worst_health)
        self.totals.peak_kb = max(self.totals.peak_kb, self._case_peak_kb)
        if not healthy or self._case_peak_kb > PEAK_RSS_MB * 1024:
            self.restart()  # a fresh process, so that the next case measures itself
        return problems

    def _health_now(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", verify=LOCAL_TLS,
                             timeout=HEALTH_SECONDS).status_code == 200
        except httpx.HTTPError:
            return False

    def request(self, method: str, path: str, expect: tuple[int, ...] = (),
                **kwargs: Any) -> httpx.Response | None:
        """Send one request; a 5xx, no answer in time, a broken connection, or a status
        other than ``expect`` (when given) is a problem of the case."""
        assert self.http is not None
        self.totals.requests += 1
        what = f"{method} {path[:80]}"
        started = time.monotonic()
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.problems.append(f"{what}: no answer within {ANSWER_SECONDS} s")
            self.totals.worst_answer = max(self.totals.worst_answer,
                                           time.monotonic() - started)
            return None
        except httpx.TransportError as exc:
            self.problems.append(f"{what}: the connection failed ({type(exc).__name__})")
            return None
        elapsed = time.monotonic() - started
        self.totals.worst_answer = max(self.totals.worst_answer, elapsed)
        status = response.status_code
        if 400 <= status < 500:
            self.totals.client_errors += 1
        if status >= 500:
            self.totals.server_errors += 1
            self.problems.append(f"{what}: {status} {response.text[:200]}")
        elif expect and status not in expect:
            self.problems.append(f"{what}: {status}, expected {expect}: {response.text[:200]}")
        if status >= 400 and any(secret in response.text for secret in self._secrets()):
            self.problems.append(f"{what}: the error shows where the database is")
        return response

    def _secrets(self) -> tuple[str, ...]:
        # What no error may show a client: the database's URI or its file's directory.
        return ("sqlite:", "postgresql:", "postgres@", str(self.tmp_path))

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


# -- the data the cases need -----------------------------------------------------------------

def _otlp_span(name: str, attributes: dict[str, str] | None = None,
               start_ns: int | str = 1_700_000_000_000_000_000,
               end_ns: int | str = 1_700_000_000_500_000_000) -> tuple[str, dict[str, Any]]:
    """A root span of a new trace, as OTLP JSON; and the trace's Assay id."""
    trace_id = os.urandom(16).hex()
    span = {"traceId": trace_id, "spanId": os.urandom(8).hex(), "name": name, "kind": 1,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns),
            "attributes": [{"key": k, "value": {"stringValue": v}}
                           for k, v in (attributes or {}).items()]}
    return "tr-" + trace_id, span


def _otlp(spans: list[dict[str, Any]], service: str = "hostile") -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]}]}


def _seed(harness: Harness) -> None:
    """The spans the regular-expression cases search, in the default experiment."""
    _, by_name = _otlp_span(REGEX_SPAN_NAME)
    _, by_question = _otlp_span("ask", {"question": QUESTION})
    response = harness.request("POST", "/v1/traces", json=_otlp([by_name, by_question]),
                               headers={"x-assay-experiment-id": "0"}, expect=(200,))
    assert response is not None and response.status_code == 200, harness.problems


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# -- the cases ---------------------------------------------------------------------------------

Case = Callable[[Harness], None]


def huge_body_with_content_length(h: Harness) -> None:
    body = b'{"name": "' + b"x" * ((MAX_REQUEST_MB + 1) * MIB) + b'"}'
    h.request("POST", "/api/v1/experiments", content=body, expect=(413,),
              headers={"content-type": "application/json"})


def huge_body_chunked_without_length(h: Harness) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_REQUEST_MB + 4):
            yield b"x" * MIB
        yield b'"}'

    h.request("POST", "/api/v1/experiments", content=chunks(), expect=(413,),
              headers={"content-type": "application/json"})


def gzip_bomb(h: Harness) -> None:
    for path in ("/v1/traces", "/api/v1/experiments"):
        h.request("POST", path, content=zeros_bomb(256, "gzip"), expect=(413,),
                  headers={"content-type": "application/json", "content-encoding": "gzip"})


def deflate_bomb(h: Harness) -> None:
    h.request("POST", "/v1/traces", content=zeros_bomb(256, "deflate"), expect=(413,),
              headers={"content-type": "application/json", "content-encoding": "deflate"})


def deeply_nested_json(h: Harness) -> None:
    deep = _deep(100_000)
    json_type = {"content-type": "application/json"}
    h.request("POST", "/api/v1/experiments", content=f'{{"name": "deep", "tags": {deep}}}',
              headers=json_type, expect=(400,))
    h.request("POST", "/v1/traces", content=f'{{"resourceSpans": {deep}}}', headers=json_type,
              expect=(400,))
    h.request("POST", "/api/v1/traces/search",
              content=f'{{"experiment_ids": ["0"], "order_by": {deep}}}', headers=json_type,
              expect=(400,))


def _search(h: Harness, filter_string: str) -> httpx.Response | None:
    return h.request("POST", "/api/v1/traces/search",
                     json={"experiment_ids": ["0"], "filter_string": filter_string,
                           "include_spans": False}, expect=(200, 400))


def filter_with_a_1_mb_quoted_string(h: Harness) -> None:
    _search(h, "name = '" + "a" * MIB + "'")


def filter_with_a_10_mb_quoted_string(h: Harness) -> None:
    _search(h, "name = '" + "a" * (10 * MIB) + "'")


def filter_with_1000_and_clauses(h: Harness) -> None:
    _search(h, " AND ".join(f"tags.k{i} = 'v'" for i in range(1000)))


def filter_with_10000_and_clauses(h: Harness) -> None:
    _search(h, " AND ".join(f"tags.k{i} = 'v'" for i in range(10_000)))


def catastrophic_regex_on_a_span_name(h: Harness) -> None:
    _search(h, "span.name RLIKE '^(a+)+$'")


def catastrophic_regex_through_a_page_get(h: Harness) -> None:
    # Any web page the user visits can make the browser send this GET.
    h.request("GET", "/experiments/0", expect=(200, 400),
              params={"filter": r"span.attributes.question RLIKE '^(\w+\s?)*$'"})


def nul_in_paths(h: Harness) -> None:
    for path in ("/api/v1/experiments/a%00b", "/api/v1/traces/tr-%00",
                 "/api/v1/traces/tr-%00/feedback", "/experiments/%00"):
        method = "POST" if path.endswith("/feedback") else "GET"
        h.request(method, path, json={"value": True} if method == "POST" else None,
                  expect=(400, 404))


def nul_in_queries(h: Harness) -> None:
    h.request("GET", "/api/v1/experiments/get-by-name", params={"experiment_name": "a\0b"},
              expect=(400, 404))
    h.request("GET", "/api/v1/sessions/first-trace", params={"session_id": "s\0"},
              expect=(200, 400, 404))
    h.request("GET", "/api/v1/experiments", params={"page_token": "\0"}, expect=(400,))


def _stored_without_nul(h: Harness, response: httpx.Response | None, what: str) -> None:
    # Rejected (400), or stored with the NUL stripped: never kept on one database only.
    if response is not None and response.status_code == 200:
        experiment_id = response.json()["experiment_id"]
        stored = h.request("GET", f"/api/v1/experiments/{experiment_id}", expect=(200,))
        if stored is not None and stored.status_code == 200:
            h.check("\0" not in json.dumps(stored.json(), ensure_ascii=False),
                    f"{what}: stored with its NUL character")


def nul_in_json_fields(h: Harness) -> None:
    response = h.request("POST", "/api/v1/experiments", json={"name": "nul\0name"},
                         expect=(200, 400))
    _stored_without_nul(h, response, "an experiment name")
    response = h.request("POST", "/api/v1/experiments",
                         json={"name": f"nul-tags-{os.urandom(4).hex()}", "tags": {"k\0": "v\0"}},
                         expect=(200, 400))
    _stored_without_nul(h, response, "an experiment tag")
    h.request("POST", "/api/v1/traces/search",
              json={"experiment_ids": ["0\0"], "filter_string": "name = 'a\0'"},
              expect=(200, 400))


def nul_in_otlp_service_name(h: Harness) -> None:
    _, span = _otlp_span("nul-service")
    service = f"svc\0{os.urandom(4).hex()}"
    response = h.request("POST", "/v1/traces", json=_otlp([span], service=service),
                         expect=(200, 400))
    if response is not None and response.status_code == 200:
        found = h.request("GET", "/api/v1/experiments/get-by-name",
                          params={"experiment_name": service.replace("\0", "")},
                          expect=(200, 404))
        h.check(found is not None and found.status_code == 200,
                "service.name: stored, but not with its NUL stripped")


def extreme_otlp_timestamps(h: Harness) -> None:
    for start in (2**63, 2**64 - 1, -1):
        good = [_otlp_span("good")[1] for _ in range(3)]
        _, bad = _otlp_span("bad", start_ns=start, end_ns=start)
        response = h.request("POST", "/v1/traces", json=_otlp([*good, bad]),
                             headers={"x-assay-experiment-id": "0"}, expect=(200, 400))
        if response is not None and response.status_code == 400:
            h.check("bad" in response.text or "time" in response.text.lower(),
                    f"startTimeUnixNano {start}: the 400 names neither the span nor the field")
    # As protobuf, where the field is a fixed64: 2^64 - 1 at most.
    batch = make_batch(2)
    spans = batch.request.resource_spans[0].scope_spans[0].spans
    spans[0].start_time_unix_nano = 2**64 - 1
    h.request("POST", "/v1/traces", content=batch.body(), headers=PROTOBUF, expect=(200, 400))


def extreme_json_numbers(h: Harness) -> None:
    json_type = {"content-type": "application/json"}
    for value in ("1e308", "NaN", "Infinity", "-1", str(10**12), str(2**64)):
        h.request("POST", "/api/v1/traces/search",
                  content=f'{{"experiment_ids": ["0"], "max_results": {value}}}',
                  headers=json_type, expect=(400,))
    h.request("GET", "/api/v1/experiments", params={"max_results": str(10**12)}, expect=(400,))
    h.request("POST", "/api/v1/traces/delete",
              content='{"experiment_id": "0", "max_timestamp_millis": 1e308}',
              headers=json_type, expect=(400,))
    trace_id = "tr-" + os.urandom(16).hex()
    h.request("POST", f"/api/v1/traces/{trace_id}/feedback-tokens",
              content='{"expires_in": NaN}', headers=json_type, expect=(400,))
    h.request("POST", f"/api/v1/traces/{trace_id}/feedback",
              content='{"name": "n", "value": 1e308}', headers=json_type,
              expect=(200, 202, 400))


def unknown_fields(h: Harness) -> None:
    h.request("POST", "/api/v1/experiments", json={"name": "x", "surprise": 1}, expect=(400,))
    h.request("POST", "/api/v1/traces/search",
              json={"experiment_ids": ["0"], "max_result": 5}, expect=(400,))
    _, span = _otlp_span("unknown-fields")
    span["surprise"] = {"nested": [1, 2, 3]}
    h.request("POST", "/v1/traces", json=_otlp([span]), expect=(200, 400))


def wrong_content_types(h: Harness) -> None:
    h.request("POST", "/api/v1/experiments", content=b'{"name": "text"}',
              headers={"content-type": "text/plain"}, expect=(400, 403, 415))
    h.request("POST", "/api/v1/experiments", content=b"<name>x</name>",
              headers={"content-type": "application/xml"}, expect=(400, 415))
    h.request("POST", "/api/v1/experiments", files={"name": ("n", b"x")}, expect=(400, 403, 415))
    h.request("POST", "/v1/traces", content=b"<spans/>",
              headers={"content-type": "application/xml"}, expect=(400, 415))
    h.request("POST", "/v1/traces", content=json.dumps(_otlp([])).encode(),
              headers={"content-type": "application/x-protobuf"}, expect=(400,))


def truncated_protobuf(h: Harness) -> None:
    body = make_batch(5).body()
    for size in (len(body) // 2, len(body) - 1, 1):
        h.request("POST", "/v1/traces", content=body[:size], headers=PROTOBUF, expect=(400,))


def slow_partial_bodies(h: Harness) -> None:
    # Slowloris: connections that send the headers and a little of the body, then nothing.
    host, port = "127.0.0.1", int(h.url.rsplit(":", 1)[1])
    sockets = []
    try:
        for _ in range(50):
            sock = socket.create_connection((host, port), timeout=ANSWER_SECONDS)
            sock.sendall(b"POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                         b'{"name": "slow')
            sockets.append(sock)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            h.request("GET", "/health", expect=(200,))
            h.request("POST", "/api/v1/traces/search", json={"experiment_ids": ["0"]},
                      expect=(200,))
            time.sleep(0.2)
    finally:
        for sock in sockets:
            sock.close()


def privilege_escalation_through_users_me(h: Harness) -> None:
    # Users alice (admin) and me (viewer), a key for me: PATCH /api/v1/users/me must not
    # reach "change the user named me".
    store = SqlStore(h.uri)
    try:
        store.create_user("alice", Role.ADMIN)
        try:
            store.create_user("me", Role.VIEWER)
            viewer = "me"
        except InvalidParameterError:
            viewer = "viewer-of-me"  # a name that is a route word may be refused outright
            store.create_user(viewer, Role.VIEWER)
        _, key = store.create_api_key(viewer, "hostile")
    finally:
        store.close()
    server = ServerProcess(h.uri, h.tmp_path, "--auth")
    try:
        url = server.wait_ready(60)
        bearer = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, verify=LOCAL_TLS, timeout=ANSWER_SECONDS,
                          headers=bearer) as http:
            attempts = [("POST", "/api/v1/users", {"username": "mallory", "role": "admin"}),
                        ("PATCH", "/api/v1/users/me", {"role": "admin"}),
                        ("PATCH", "/api/v1/users/me", {"disabled": True})]
            for method, path, body in attempts:
                h.totals.requests += 1
                response = http.request(method, path, json=body)
                h.check(response.status_code == 403,
                        f"{method} {path} {body} by a viewer: {response.status_code} "
                        f"{response.text[:200]}")
        h.check(server.process.poll() is None, "the --auth server died")
    finally:
        server.kill()


def concurrent_votes(h: Harness) -> None:
    # Rounds of simultaneous votes by one voter, each on a new trace: a race that a
    # read-then-write loses only some of the time.
    for round_number in range(3):
        _concurrent_votes_on_a_new_trace(h, f"voter-{round_number}", votes=12)


def _concurrent_votes_on_a_new_trace(h: Harness, voter: str, votes: int) -> None:
    trace_id, span = _otlp_span("voted")
    h.request("POST", "/v1/traces", json=_otlp([span]), headers={"x-assay-experiment-id": "0"},
              expect=(200,))
    token = h.request("POST", f"/api/v1/traces/{trace_id}/feedback-tokens",
                      json={"end_user_id": voter}, expect=(200,))
    if token is None or token.status_code != 200:
        return
    vote = {"token": token.json()["token"], "name": "thumbs"}
    with ThreadPoolExecutor(votes) as pool:
        list(pool.map(lambda i: h.request("POST", "/api/v1/feedback",
                                          json={**vote, "value": i % 2 == 0},
                                          expect=(201, 202, 409)), range(votes)))
    stored = h.request("GET", f"/api/v1/traces/{trace_id}", params={"include_spans": False},
                       expect=(200,))
    if stored is not None and stored.status_code == 200:
        valid = [a for a in stored.json()["trace"]["info"].get("assessments", [])
                 if a.get("assessment_name") == "thumbs" and a.get("valid", True)]
        h.check(len(valid) == 1, f"{votes} simultaneous votes by {voter}: {len(valid)} valid "
                                 "votes, expected 1")


CASES: list[Case] = [
    huge_body_with_content_length, huge_body_chunked_without_length, gzip_bomb, deflate_bomb,
    deeply_nested_json, filter_with_a_1_mb_quoted_string, filter_with_a_10_mb_quoted_string,
    filter_with_1000_and_clauses, filter_with_10000_and_clauses,
    catastrophic_regex_on_a_span_name, catastrophic_regex_through_a_page_get, nul_in_paths,
    nul_in_queries, nul_in_json_fields, nul_in_otlp_service_name, extreme_otlp_timestamps,
    extreme_json_numbers, unknown_fields, wrong_content_types, truncated_protobuf,
    slow_partial_bodies, privilege_escalation_through_users_me, concurrent_votes,
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def harness(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A live ``assay server`` over a fresh database, with its data seeded."""
    tmp_path = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            uri = f"sqlite:///{tmp_path / 'hostile.db'}"
        else:
            uri = stack.enter_context(
                new_schema(request.getfixturevalue("postgres_server").base_uri()))
        if request.param == "postgresql":
            uri += quote(f" -cstatement_timeout={PG_SAFETY_TIMEOUT_MS}", safe="")
        SqlStore(uri).close()  # the schema, made once rather than by the first case
        h = Harness(request.param, uri, tmp_path)
        h.start()
        try:
            _seed(h)
            yield h
        finally:
            h.stop()
            _print_summary(request.config, h.totals.line(request.param))


def _print_summary(config: pytest.Config, line: str) -> None:
    # On the terminal even while output is captured: the figures are what the run is for.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_hostile_input(harness: Harness, case: Case) -> None:
    harness.begin()
    try:
        case(harness)
    finally:
        problems = harness.end()
    assert not problems, "\n".join(problems)
