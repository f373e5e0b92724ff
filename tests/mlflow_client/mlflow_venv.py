"""The stock mlflow client's own virtual environment, built once and kept.

It lives in the pytest cache (``.pytest_cache/d/mlflow-client-venv``), so the first run on
a checkout builds it (about a minute and a half) and the later ones find it. A copy records
the requirements it was built from; when they change it is built again. Test processes
(pytest-xdist's workers) take a file lock, so one builds it while the others wait.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PROJECT_ROOT",
    "REQUIREMENTS",
    "MlflowVenv",
    "ensure_assay_installed",
    "ensure_mlflow_venv",
    "mlflow_env",
]

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
_BUILT_FROM = "assay-requirements.txt"
#: A generous bound on pip: it downloads a few dozen wheels on the first run.
_INSTALL_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class MlflowVenv:
    """The venv's python, or why there is none."""

    python: Path | None
    problem: str = ""


def ensure_mlflow_venv(venv: Path) -> MlflowVenv:
    """The python of the mlflow venv at ``venv``, building it first if it is missing or was
    built from other requirements."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    wanted = REQUIREMENTS.read_text()
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = venv / "bin" / "python"
        built_from = venv / _BUILT_FROM
        if python.exists() and built_from.exists() and built_from.read_text() == wanted:
            return MlflowVenv(python)
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           capture_output=True, text=True, timeout=120)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                           check=True, capture_output=True, text=True,
                           timeout=_INSTALL_TIMEOUT_SECONDS)
        except subprocess.CalledProcessError as error:
            shutil.rmtree(venv, ignore_errors=True)
            output = (error.stderr or error.stdout or "").strip().splitlines()
            last = output[-1] if output else f"exit code {error.returncode}"
            return MlflowVenv(None, f"could not install {REQUIREMENTS.name} into a new "
                                    f"virtual environment: {last}")
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(venv, ignore_errors=True)
            return MlflowVenv(None, f"could not build the mlflow virtual environment: "
                                    f"{error}")
        built_from.write_text(wanted)
        return MlflowVenv(python)


def mlflow_env() -> dict[str, str]:
    """The environment of a child running the mlflow venv's python: none of this process's
    Python or MLflow settings, no telemetry."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not key.startswith(("MLFLOW_", "ASSAY_"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    return env


#: The project's root: what ``ensure_assay_installed`` installs (editable) into the venv.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ASSAY_INSTALLED = "assay-installed-from.txt"


def ensure_assay_installed(python: Path) -> str:
    """Install this checkout of Assay, editable (so its entry points, among them the
    ``mlflow.labeling_store`` plugin, are declared), into the mlflow venv of ``python``
    unless it is there already from the same ``pyproject.toml``. Returns "" or why it could
    not be installed."""
    venv = python.parent.parent
    wanted = f"{PROJECT_ROOT}\n{(PROJECT_ROOT / 'pyproject.toml').read_text()}"
    with open(venv.parent / f"{venv.name}.assay.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = venv / _ASSAY_INSTALLED
        if stamp.exists() and stamp.read_text() == wanted:
            return ""
        try:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-e", str(PROJECT_ROOT)],
                           check=True, capture_output=True, text=True,
                           timeout=_INSTALL_TIMEOUT_SECONDS, env=mlflow_env())
        except subprocess.CalledProcessError as error:
            output = (error.stderr or error.stdout or "").strip().splitlines()
            return output[-1] if output else f"exit code {error.returncode}"
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
        stamp.write_text(wanted)
        return ""
