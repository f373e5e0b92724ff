"""Fixtures of the import tests: an MLflow store that the real mlflow filled (in the stock
client's virtual environment, see ``tests/mlflow_client``), once per test process."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_client.conftest import mlflow_venv
from mlflow_client.mlflow_venv import MlflowVenv, mlflow_env

__all__ = ["FilledStore", "filled_mlflow", "mlflow_venv"]

SCRIPT = Path(__file__).with_name("fill_mlflow.py")
#: Traces the script logs into each of its two experiments.
PER_EXPERIMENT = 6


@dataclass(frozen=True)
class FilledStore:
    """An MLflow SQLite store and what mlflow itself read back from it."""

    path: Path
    report: dict[str, Any]

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path}"


@pytest.fixture(scope="session")
def filled_mlflow(mlflow_venv: MlflowVenv,
                  tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    """The store, filled on first use (by the real mlflow 3.17, in a subprocess). Tests
    only read it. Skipped without the mlflow venv, except on CI (``CI=true``)."""
    python = mlflow_venv.python
    if python is None:
        reason = f"the stock mlflow is not available: {mlflow_venv.problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the mlflow tests must run)", pytrace=False)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("mlflow-store")
    path = folder / "mlflow.db"
    done = subprocess.run([str(python), str(SCRIPT), f"sqlite:///{path}",
                           str(PER_EXPERIMENT)], capture_output=True, text=True,
                          env=mlflow_env(), cwd=folder, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, (
        f"filling the mlflow store failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n"
        f"{done.stderr[-8000:]}")
    return FilledStore(path, json.loads(lines[-1].removeprefix("REPORT ")))
