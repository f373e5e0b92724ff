"""Fixtures of the stock mlflow client's tests: its virtual environment (built once per
checkout, see ``mlflow_venv``) and a live Assay server for it to talk to.

Without the mlflow venv (no network to the package index) these tests are skipped, except
on CI (``CI=true``), where they must run and fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assay.store.sql import SqlStore
from mlflow_client.mlflow_venv import MlflowVenv, ensure_mlflow_venv, mlflow_env
from server.live import Served, live

SCRIPT = Path(__file__).with_name("stock_client.py")
#: What the script prints before its report.
REPORT_PREFIX = "REPORT "


@pytest.fixture(scope="session")
def mlflow_venv(request: pytest.FixtureRequest) -> MlflowVenv:
    """The mlflow venv, built on first use and kept in the pytest cache."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    root = (cache.mkdir("mlflow-client") if cache is not None
            else request.getfixturevalue("tmp_path_factory").mktemp("mlflow-venv"))
    return ensure_mlflow_venv(Path(root) / "venv")


@pytest.fixture
def mlflow_python(mlflow_venv: MlflowVenv) -> Path:
    """The python of the mlflow venv; skips the test (fails it on CI) when there is none."""
    if mlflow_venv.python is None:
        reason = f"the stock mlflow client is not available: {mlflow_venv.problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the mlflow client tests must run)",
                        pytrace=False)
        pytest.skip(reason)
    return mlflow_venv.python


@pytest.fixture
def served(sql_store: SqlStore) -> Iterator[Served]:
    """A real Assay server on 127.0.0.1 over a fresh store (SQLite, PostgreSQL)."""
    with live(sql_store) as server:
        yield server


@dataclass(frozen=True)
class ClientRun:
    """What a run of the stock client script printed: its report and its log."""

    report: dict[str, Any]
    log: str


def run_script(python: Path, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``stock_client.py`` with the mlflow venv's python (``env`` added to its
    environment), and what it printed. It runs in a folder of its own, which it may litter
    (mlflow's own store writes ``mlruns/`` where it runs)."""
    with tempfile.TemporaryDirectory(prefix="mlflow-client-") as folder:
        return subprocess.run([str(python), str(SCRIPT), *args], capture_output=True,
                              text=True, env=mlflow_env() | (env or {}), timeout=240,
                              cwd=folder)


def run_stock_client(python: Path, *args: str,
                     env: dict[str, str] | None = None) -> ClientRun:
    """Run ``stock_client.py`` with the mlflow venv's python; its report, or the test fails
    with what it printed."""
    done = run_script(python, *args, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    assert done.returncode == 0 and lines, (
        f"the stock mlflow client failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
        f"{done.stderr[-8000:]}")
    return ClientRun(json.loads(lines[-1][len(REPORT_PREFIX):]), done.stderr)
