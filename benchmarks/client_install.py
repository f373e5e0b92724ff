"""What a client install of Assay costs: its size on disk and the time of ``import assay``.

The script makes a fresh virtual environment, installs the project into it (with the
extras given, none by default: what ``pip install assay`` brings), and reports:

* **installed**: the size of what the install added to the environment (its
  ``site-packages`` and ``bin``, minus what a bare environment already holds: pip), and
  how many distributions it installed;
* **import assay**: the best and the median, over ``--runs`` fresh processes, of the wall
  time and the CPU time of ``import assay`` in a process started in an empty directory,
  with no ``ASSAY_*`` or ``PYTHON*`` variables set; and how many modules it loaded;
* **first trace**: in ``--trace-runs`` more processes each, whether a trace was written to a
  new SQLite file, and whether one was sent to a server (``http://``: a stand-in that takes
  ``POST /v1/traces`` and answers 200, as a server does); the best time from
  ``import assay`` to the trace written (``flush_trace_async_logging``), the modules
  loaded then, and whether SQLAlchemy, FastAPI or pandas were among them.

Usage::

    python benchmarks/client_install.py                      # this checkout, core install
    python benchmarks/client_install.py --extras server      # with the server extra
    python benchmarks/client_install.py --baseline OLD_CHECKOUT --runs 41
    python benchmarks/client_install.py --project DIR --json

With ``--baseline``, each checkout gets its own environment and the imports are timed in
turns, one process of each after the other, so that what else runs on the machine weighs
on both alike; compare the figures of one run only.

pip must be able to reach a package index (or a local mirror pip is configured for).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: Packages a client that sends its traces to a server has no use for.
HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "jinja2", "pandas",
         "psycopg")

_IMPORT_TIME = """
import time
t, c = time.perf_counter(), time.process_time()
import assay
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
import sys
print(elapsed, cpu, len(sys.modules))
"""

_FIRST_TRACE = """
import time
t, c = time.perf_counter(), time.process_time()
import json, logging, sys
logging.disable(logging.CRITICAL)
import assay
from assay.tracing import get_export_status
assay.set_tracking_uri(sys.argv[1])

@assay.trace
def answer(question: str) -> str:
    return "42"

answer("?")
assay.flush_trace_async_logging()
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
tops = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"written": get_export_status().written, "modules": len(sys.modules),
                  "top_level": tops, "elapsed": elapsed, "cpu": cpu}))
"""


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Takes OTLP uploads as a server does (200, empty body) and counts them."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/traces":
            type(self).received += 1
            self.send_response(200)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _size(path: Path) -> int:
    """Bytes of the files under ``path`` (as stored, not as allocated)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASSAY_", "PYTHON", "VIRTUAL_ENV"))}


def _run(args: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def install(project: Path, extras: str, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """A fresh venv in ``workdir`` with the project installed: its python, and what the
    install added (MB, distributions)."""
    venv = workdir / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    before = _size(venv)
    before_dists = set(_run([str(python), "-m", "pip", "list", "--format=freeze"]).split())
    target = f"{project}[{extras}]" if extras else str(project)
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          target])
    added = _size(venv) - before
    after_dists = set(_run([str(python), "-m", "pip", "list", "--format=freeze"]).split())
    installed = sorted(after_dists - before_dists)
    return python, {"project": str(project), "extras": extras or None,
                    "installed_mb": round(added / 1e6, 1), "distributions": len(installed),
                    "installed": installed}


def time_imports(pythons: list[Path], runs: int, cwd: Path) -> list[dict[str, Any]]:
    """``import assay`` in ``runs`` fresh processes of each python, taking turns (so that
    what else the machine does weighs on each alike)."""
    wall: list[list[float]] = [[] for _ in pythons]
    cpu: list[list[float]] = [[] for _ in pythons]
    modules = [0] * len(pythons)
    for _ in range(runs):
        for i, python in enumerate(pythons):
            elapsed, used, loaded = _run([str(python), "-c", _IMPORT_TIME], cwd=cwd).split()
            wall[i].append(float(elapsed))
            cpu[i].append(float(used))
            modules[i] = int(loaded)
    return [{"import_ms_best": round(min(w) * 1000, 1),
             "import_ms_median": round(sorted(w)[len(w) // 2] * 1000, 1),
             "import_cpu_ms_best": round(min(c) * 1000, 1),
             "import_cpu_ms_median": round(sorted(c)[len(c) // 2] * 1000, 1),
             "runs": runs, "modules_after_import": m}
            for w, c, m in zip(wall, cpu, modules, strict=True)]


def first_traces(python: Path, cwd: Path, runs: int) -> dict[str, Any]:
    """A trace to a new SQLite file and one to a server, each in ``runs`` fresh processes:
    what was written, what was loaded, and the best time from ``import assay`` to the
    trace written."""
    _Receiver.received = 0
    first: dict[str, Any] = {}
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        for label in ("sqlite", "http"):
            times: list[float] = []
            for run in range(runs):
                uri = (f"sqlite:///{cwd / f'traces-{run}.db'}" if label == "sqlite"
                       else f"http://127.0.0.1:{receiver.server_address[1]}")
                done = subprocess.run([str(python), "-c", _FIRST_TRACE, uri], cwd=cwd,
                                      env=_env(), capture_output=True, text=True,
                                      timeout=120)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                    first[label] = {"failed": last}
                    break
                found = json.loads(done.stdout.strip().splitlines()[-1])
                times.append(found["elapsed"])
                first[label] = {"written": found["written"], "modules": found["modules"],
                                "heavy": [m for m in HEAVY if m in found["top_level"]]}
            if times:
                first[label]["ms_best"] = round(min(times) * 1000, 1)
    finally:
        receiver.shutdown()
        receiver.server_close()
    first["http"]["received"] = _Receiver.received
    return first


def measure(projects: list[Path], extras: str, runs: int, trace_runs: int, workdir: Path
            ) -> list[dict[str, Any]]:
    """The figures of each project, its imports timed in turns with the others'."""
    pythons, results = [], []
    for i, project in enumerate(projects):
        python, result = install(project, extras, workdir / str(i))
        pythons.append(python)
        results.append(result)
    cwd = workdir / "cwd"
    cwd.mkdir()
    timings = time_imports(pythons, runs, cwd)
    for i, (result, timing, python) in enumerate(zip(results, timings, pythons, strict=True)):
        result.update(timing)
        own = cwd / f"first-{i}"  # a new SQLite file for each: its schema is created anew
        own.mkdir()
        result["first_trace"] = first_traces(python, own, trace_runs)
        result["python"] = sys.version.split()[0]
    return results


def _print(result: dict[str, Any]) -> None:
    label = f"assay[{result['extras']}]" if result["extras"] else "assay"
    print(f"{label} from {result['project']}, Python {result['python']}")
    print(f"  installed: {result['installed_mb']} MB in {result['distributions']} "
          f"distributions")
    print(f"  import assay: wall {result['import_ms_best']} ms best, "
          f"{result['import_ms_median']} ms median; CPU {result['import_cpu_ms_best']} ms "
          f"best, {result['import_cpu_ms_median']} ms median ({result['runs']} processes); "
          f"{result['modules_after_import']} modules")
    for name, found in result["first_trace"].items():
        if "failed" in found:
            print(f"  a trace to {name} fails: {found['failed']}")
            continue
        heavy = ", ".join(found["heavy"]) or "none"
        print(f"  a trace to {name}: {found['written']} written, {found['ms_best']} ms best "
              f"from import assay; {found['modules']} modules; of {', '.join(HEAVY)}: "
              f"{heavy}")
    print("  distributions: " + " ".join(result["installed"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, default=REPO,
                        help="the project to install (default: this checkout)")
    parser.add_argument("--baseline", type=Path, action="append", default=[],
                        help="another checkout to measure beside it, imports timed in turns "
                             "(repeatable)")
    parser.add_argument("--extras", default="", help="extras to install, e.g. server")
    parser.add_argument("--runs", type=int, default=21, help="processes timing the import")
    parser.add_argument("--trace-runs", type=int, default=5,
                        help="processes timing a first trace, to each kind of store")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    projects = [p.resolve() for p in (*args.baseline, args.project)]
    with tempfile.TemporaryDirectory(prefix="assay-client-install-") as tmp:
        results = measure(projects, args.extras, args.runs, args.trace_runs, Path(tmp))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for result in results:
        _print(result)


if __name__ == "__main__":
    main()
