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

from local_http import LOCAL_TLS


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
                if httpx.get(f"{base}/health", verify=LOCAL_TLS, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo server did not start"
            time.sleep(0.2)
        experiments = httpx.get(f"{base}/.json", verify=LOCAL_TLS, timeout=30).json()
        names = [e["name"] for e in experiments["experiments"]]
        assert "assay-demo/rag-chatbot" in names
        eid = experiments["experiments"][names.index("assay-demo/rag-chatbot")]["experiment_id"]
        for path in (f"/experiments/{eid}", f"/experiments/{eid}/dashboard",
                     f"/experiments/{eid}/sessions"):
            page = httpx.get(base + path, verify=LOCAL_TLS, timeout=30)
            assert page.status_code == 200, (path, page.text[:500])
            assert "assay-demo/rag-chatbot" in page.text
        dashboard = httpx.get(f"{base}/experiments/{eid}/dashboard.json", verify=LOCAL_TLS,
                              timeout=30).json()
        assert dashboard["totals"]["num_traces"] >= 6
        assert dashboard["rate_name"] == "user_feedback"
        # The sessions the chat app recorded from its X-Session-ID and X-User-ID headers.
        sessions = httpx.get(f"{base}/experiments/{eid}/sessions", verify=LOCAL_TLS,
                             timeout=30).text
        assert "session-001" in sessions and "user-" in sessions
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Recorded" in out
    shown = re.findall(r"^\s+(http://\S+)$", out, flags=re.MULTILINE)
    assert shown == [f"{base}/experiments/{eid}"]
    assert f"{base}/experiments/{eid}/dashboard" in out


def test_demo_says_when_the_port_is_taken_before_recording(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _demo(tmp_path, "--port", str(port))
        out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "Recorded" not in out  # said at once, not after a recording
    assert f"port {port}" in err and "--no-serve" in err


def test_demo_again_keeps_what_is_there_unless_reset(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        process = _demo(tmp_path, "--no-serve", *args)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        return out

    def trace_ids() -> list[str]:
        import assay
        client = assay.AssayClient(f"sqlite:///{tmp_path}/demo.db")
        return sorted(t.info.trace_id for t in client.search_traces(
            experiment_names=["assay-demo/rag-chatbot"], max_results=1000))

    assert "Recorded" in run()
    first = trace_ids()
    again = run()
    assert "Recorded" not in again and "already in" in again and "--reset" in again
    assert trace_ids() == first  # the same traces: old links still work
    assert "Recorded" in run("--reset")
    assert trace_ids() != first


def test_a_port_left_in_time_wait_is_free_for_the_demo(tmp_path: Path) -> None:
    from assay.cli import _port_is_free

    # A server that closed its side first leaves the port in TIME_WAIT, as a stopped demo
    # does; the server binds with SO_REUSEADDR, and so must the check.
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end goes to TIME_WAIT
        client.close()
    time.sleep(0.1)
    assert _port_is_free(port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert not _port_is_free(taken.getsockname()[1])


def test_demo_cannot_serve_an_in_memory_database(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "assay.cli", "demo", "--tracking-uri", "sqlite:///:memory:",
         "--conversations", "2"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert process.returncode == 2
    assert "in-memory" in process.stderr and "--no-serve" in process.stderr
