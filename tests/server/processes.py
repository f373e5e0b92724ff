"""``assay server`` as a real subprocess on port 0: the port it bound is read from its log, and
its output is drained by a thread (the access log writes a line per request) and kept."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class ServerProcess:
    """``python -m assay.cli server --port 0 ...`` and what it printed."""

    def __init__(self, backend_store_uri: str, cwd: Path, *extra: str) -> None:
        self.command: Sequence[str] = [
            sys.executable, "-m", "assay.cli", "server", "--host", "127.0.0.1", "--port", "0",
            "--backend-store-uri", backend_store_uri, *extra]
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=cwd)
        self.lines: list[str] = []
        self.port = 0
        self._bound = threading.Event()
        self._reader = threading.Thread(target=self._read, name="assay-server-output",
                                        daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            match = _RUNNING.search(line)
            if match:
                self.port = int(match.group(1))
                self._bound.set()
        self._bound.set()  # the output ended: the process is gone

    def wait_ready(self, timeout: float = 60) -> str:
        """Wait until the server answers /health; its base URL."""
        if not self._bound.wait(timeout) or not self.port:
            raise RuntimeError(f"assay server did not start:\n{self.output()}")
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"assay server does not answer:\n{self.output()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float) -> int:
        """SIGTERM, then the exit status (killed after ``timeout`` seconds, and an error)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._close()
        return code

    def kill(self) -> None:
        """Kill it if it still runs (the end of every test, whatever happened)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
