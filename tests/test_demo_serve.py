"""``assay demo`` records its experiment, then serves the web UI on it and prints the page to
open; it says plainly when it cannot serve."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assay.cli", "demo", "--tracking-uri",
         f"sqlite:///{tmp_path}/demo.db", "--conversations", "6", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def test_demo_serves_the_ui_and_prints_its_url(tmp_path: Path) -> None:
    port = _free_port()
    process = _demo(tmp_path, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # recording, then starting: poll until it answers
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo server did not start"
            time.sleep(0.2)
        experiments = httpx.get(f"{base}/.json", timeout=30).json()
        names = [e["name"] for e in experiments["experiments"]]
        assert "assay-demo/rag-chatbot" in names
        eid = experiments["experiments"][names.index("assay-demo/rag-chatbot")]["experiment_id"]
        for path in (f"/experiments/{eid}", f"/experiments/{eid}/dashboard",
                     f"/experiments/{eid}/sessions"):
            page = httpx.get(base + path, timeout=30)
            assert page.status_code == 200, (path, page.text[:500])
            assert "assay-demo/rag-chatbot" in page.text
        dashboard = httpx.get(f"{base}/experiments/{eid}/dashboard.json", timeout=30).json()
        assert dashboard["totals"]["num_traces"] >= 6
        assert dashboard["rate_name"] == "user_feedback"
        # The sessions the chat app recorded from its X-Session-ID and X-User-ID headers.
        sessions = httpx.get(f"{base}/experiments/{eid}/sessions", timeout=30).text
        assert "session-001" in sessions and "user-" in sessions
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Recorded" in out
    shown = re.findall(r"^\s+(http://\S+)$", out, flags=re.MULTILINE)
    assert shown == [f"{base}/experiments/{eid}"]
    assert f"{base}/experiments/{eid}/dashboard" in out


def test_demo_says_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _demo(tmp_path, "--port", str(port))
        out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "Recorded" in out  # the data is there; only serving failed
    assert f"port {port}" in err and "--no-serve" in err


def test_demo_cannot_serve_an_in_memory_database(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "assay.cli", "demo", "--tracking-uri", "sqlite:///:memory:",
         "--conversations", "2"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert process.returncode == 2
    assert "in-memory" in process.stderr and "--no-serve" in process.stderr
