"""``assay server`` as a real subprocess on port 0: the port it bound is read from its log, and
its output is drained by a thread (the access log writes a line per request) and kept."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from local_http import LOCAL_TLS

_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class UvicornProcess:
    """A process that serves with uvicorn and prints where: its output is read by a thread
    (kept in ``lines``) and the bound port taken from uvicorn's "running on" line."""

    def __init__(self, command: Sequence[str], cwd: Path, name: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.name = name
        self.process = subprocess.Popen(list(command), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=cwd,
                                        env=None if env is None else dict(env))
        self.lines: list[str] = []
        self.port = 0
        self._bound = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
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

    def wait_bound(self, timeout: float) -> str:
        """Wait until uvicorn says where it listens; the base URL."""
        if not self._bound.wait(timeout) or not self.port:
            raise RuntimeError(f"{self.name} did not start:\n{self.output()}")
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

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


class ServerProcess(UvicornProcess):
    """``python -m assay.cli server --port 0 ...`` and what it printed."""

    def __init__(self, backend_store_uri: str, cwd: Path, *extra: str) -> None:
        super().__init__(
            [sys.executable, "-m", "assay.cli", "server", "--host", "127.0.0.1", "--port", "0",
             "--backend-store-uri", backend_store_uri, *extra], cwd, "assay server")

    def wait_ready(self, timeout: float = 60) -> str:
        """Wait until the server answers /health; its base URL."""
        url = self.wait_bound(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/health", verify=LOCAL_TLS, timeout=5).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"assay server does not answer:\n{self.output()}")
            time.sleep(0.05)

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
