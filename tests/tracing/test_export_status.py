"""What the exporter tells: ``assay.tracing.get_export_status()`` counts, a warning at the
start and end of each outage of a real server (stopped and started again), however short,
and a total at exit when traces were lost."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import assay
from assay import _runtime
from assay.store.rest import _http
from assay.tracing import ExportStatus, exporter, get_export_status
from runtimes import default_runtime
from server.processes import ServerProcess


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def trace_one(name: str) -> None:
    with assay.start_span(name):
        pass


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The longest waits between attempts, of the REST store and of the exporter, cut from
    5 s to 0.5 s: the same steps happen (attempts fail, the outage is seen and told), without
    a test waiting seconds for the next attempt after the server is back."""
    monkeypatch.setattr(_http, "_LONGEST_WAIT", 0.5)
    monkeypatch.setattr(exporter, "_LONGEST_UNAVAILABLE_WAIT", 0.5)


@pytest.fixture
def tracing_to_server(tmp_path: Path, short_waits: None
                      ) -> Iterator[tuple[ServerProcess, list[ServerProcess]]]:
    """A real ``assay server`` over a SQLite file, the default runtime tracing into it, and
    the list of servers started (to be killed at the end)."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)
    started = [server]
    try:
        with default_runtime(server.wait_bound(60), export_exit_timeout=5.0):
            yield server, started
    finally:
        for process in started:
            process.kill()


def restart(server: ServerProcess, started: list[ServerProcess], tmp_path: Path
            ) -> ServerProcess:
    again = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", tmp_path,
                          "--port", str(server.port))
    started.append(again)
    again.wait_bound(60)
    return again


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and text in r.getMessage()]


def test_a_clean_run_counts_every_trace(sqlite_rt: _runtime.Runtime) -> None:
    for i in range(5):
        trace_one(f"t{i}")
    assert sqlite_rt.flush(timeout=30)
    assert get_export_status() == ExportStatus(
        queued=5, written=5, dropped=0, failed=0, pending=0, retries=0,
        store_unavailable=False, unavailable_since=None)


def test_an_outage_shorter_than_the_retry_window_is_logged_and_shown(
        tracing_to_server: tuple[ServerProcess, list[ServerProcess]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    server, started = tracing_to_server
    caplog.set_level(logging.WARNING)
    trace_one("before")
    assert _runtime.runtime().flush(timeout=30)
    server.kill()
    stopped_at = datetime.now(UTC)

    trace_one("during")  # its write is retried by the REST store (30 s window)
    wait_until(lambda: get_export_status().store_unavailable)
    during = get_export_status()
    assert during.unavailable_since is not None
    assert abs(during.unavailable_since - stopped_at) < timedelta(seconds=10)
    assert during.pending == 1 and during.written == 1
    time.sleep(1.0)
    restart(server, started, tmp_path)

    assert _runtime.runtime().flush(timeout=60)
    after = get_export_status()
    assert (after.queued, after.written, after.failed, after.dropped) == (2, 2, 0, 0)
    assert after.retries > 0
    assert not after.store_unavailable and after.unavailable_since is None
    assert len(messages(caplog, "is unavailable")) == 1, caplog.text
    [ended] = messages(caplog, "answers again")
    assert "s unavailable" in ended


def test_an_outage_beyond_the_retry_window_keeps_the_traces_and_says_so_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, short_waits: None,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ASSAY_HTTP_RETRY_SECONDS", "0.3")
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)
    started = [server]
    try:
        with default_runtime(server.wait_bound(60)) as runtime:
            caplog.set_level(logging.WARNING)
            trace_one("before")
            assert runtime.flush(timeout=30)
            server.kill()
            for i in range(3):
                trace_one(f"during {i}")
            wait_until(lambda: bool(messages(caplog, "cannot reach")))
            time.sleep(1.0)  # several of the exporter's own attempts fail meanwhile
            assert get_export_status().store_unavailable
            restart(server, started, tmp_path)

            assert runtime.flush(timeout=60)
            status = get_export_status()
            assert (status.queued, status.written, status.failed) == (4, 4, 0)
            assert status.retries >= 2 and not status.store_unavailable
            assert len(messages(caplog, "cannot reach")) == 1, caplog.text
            [reached] = messages(caplog, "reached")
            assert "again after" in reached and "s unavailable" in reached
    finally:
        for process in started:
            process.kill()


# An app that makes traces faster than a queue of two takes them, then exits (no flush).
_DROPPING_APP = textwrap.dedent("""
    import assay
    for i in range(int(__import__("sys").argv[1])):
        with assay.start_span(f"t{i}"):
            pass
""")


_TOTALS = re.compile(r"(\d+) trace\(s\) queued, (\d+) written, (\d+) dropped \(queue full\), "
                     r"(\d+) failed, (\d+) not written at exit")


@pytest.mark.parametrize(("queue_size", "lost"), [(10_000, False), (2, True)])
def test_a_total_is_logged_at_exit_when_traces_were_dropped(tmp_path: Path, queue_size: int,
                                                            lost: bool) -> None:
    env = {**os.environ, "ASSAY_TRACKING_URI": f"sqlite:///{tmp_path / 'app.db'}",
           "ASSAY_EXPORT_QUEUE_SIZE": str(queue_size), "ASSAY_EXPORT_BATCH_SIZE": "1"}
    done = subprocess.run([sys.executable, "-c", _DROPPING_APP, "300"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    totals = [_TOTALS.search(line) for line in done.stderr.splitlines()
              if "exporter totals" in line]
    if not lost:
        assert totals == [], done.stderr
        return
    [found] = totals
    assert found is not None, done.stderr
    queued, written, dropped, failed, not_written = map(int, found.groups())
    assert queued + dropped == 300 and dropped > 0
    assert (written, failed, not_written) == (queued, 0, 0)
