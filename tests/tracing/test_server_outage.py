"""The SDK over HTTP when the server goes away: a real ``assay server`` is killed mid-load and
started again, and every trace the app made is there afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from assay.store.sql.engine import create_engine
from server.processes import ServerProcess

# An app that traces steadily for a while, then flushes and reports what its exporter did.
_APP = textwrap.dedent("""
    import json, sys, time
    import assay
    from assay import _runtime

    assay.set_experiment("outage")

    @assay.trace
    def answer(question):
        with assay.start_span("retrieve") as span:
            span.set_inputs({"q": question})
            span.set_outputs(["doc"])
        return question.upper()

    made = 0
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        answer(f"question {made}")
        made += 1
        time.sleep(0.005)
    ok = _runtime.runtime().flush(timeout=120)
    print(json.dumps({"made": made, "flushed": ok,
                      **_runtime.runtime().exporter.stats.as_dict()}))
""")


def _stored(database_uri: str) -> int:
    engine, _ = create_engine(database_uri)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM traces")).scalar_one())
    finally:
        engine.dispose()


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_a_server_killed_mid_load_and_restarted_loses_no_trace(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'server.db'}"
    first = ServerProcess(database, tmp_path)
    second: ServerProcess | None = None
    app: subprocess.Popen[str] | None = None
    try:
        url = first.wait_ready()
        env = {**os.environ, "ASSAY_TRACKING_URI": url,
               # Short request retries, so the exporter's own waiting is exercised too.
               "ASSAY_HTTP_RETRY_SECONDS": "1"}
        app = subprocess.Popen([sys.executable, "-c", _APP, "6"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        _wait_for(lambda: _stored(database) > 20, timeout=60)
        first.process.kill()  # no goodbye: as a crash or an OOM kill would
        first.kill()
        stored_at_kill = _stored(database)
        time.sleep(2)  # the app keeps tracing into a server that is not there
        second = ServerProcess(database, tmp_path, "--port", str(first.port))
        second.wait_ready()
        out, err = app.communicate(timeout=180)
        assert app.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report["flushed"] is True
        assert report["dropped"] == 0 and report["failed"] == 0, report
        assert report["written"] == report["made"] == report["queued"]
        assert stored_at_kill < report["made"]  # traces were made while it was down
        assert _stored(database) == report["made"]
        assert "cannot reach" in err  # the app said so, once, without raising
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait()
        first.kill()
        if second is not None:
            second.kill()
