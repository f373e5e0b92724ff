"""Layers point one way: the SDK never pulls in the server stack, or SQL before it is used;
and a client install (``pip install assay``, the core dependencies alone) is enough to trace
to a SQLite file or to a server over HTTP.

The client-install tests run Python with nothing importable but the standard library, Assay
itself and the distributions the core dependencies of ``pyproject.toml`` need (found through
their metadata, then linked file by file into a directory of their own): an import outside
that set fails there as it would after ``pip install assay``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import assay
from assay.store.sql import SqlStore
from server.processes import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
#: Where ``import assay`` is found (this checkout's src/).
SRC = Path(assay.__file__).resolve().parent.parent

#: What a client has no use for: the server stack, SQL's, the optional extras.
SERVER_STACK = ("fastapi", "starlette", "uvicorn", "jinja2", "pydantic")
SQL_STACK = ("sqlalchemy", "alembic", "mako", "psycopg")
EXTRAS = ("pandas", "numpy", "openai", "opentelemetry.sdk")

# What a child process answers: the modules it loaded (and anything the code printed).
_REPORT = "\nimport json as _j, sys as _s; print(_j.dumps(sorted(_s.modules)))"


def modules_after(code: str, env: Mapping[str, str] | None = None,
                  core: Path | None = None) -> tuple[set[str], str]:
    """The modules loaded by a fresh process that ran ``code``, and what it printed before.

    With ``core``, the process sees nothing but the standard library, Assay's source and
    the distributions linked into ``core`` (``python -S``: no site-packages).
    """
    command = [sys.executable, "-c", code + _REPORT]
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ASSAY_", "PYTHON"))}
    child_env.update(env or {})
    if core is not None:
        command.insert(1, "-S")
        child_env["PYTHONPATH"] = os.pathsep.join((str(core), str(SRC)))
    else:
        child_env["PYTHONPATH"] = str(SRC)
    out = subprocess.run(command, capture_output=True, text=True, env=child_env, timeout=120)
    assert out.returncode == 0, out.stderr
    *printed, loaded = out.stdout.strip().splitlines()
    return set(json.loads(loaded)), "\n".join(printed)


def loaded_of(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The packages among ``names`` (``a`` or ``a.b``) of which a module is loaded."""
    return [name for name in names
            if any(m == name or m.startswith(name + ".") for m in modules)]


def core_distributions() -> set[str]:
    """The installed distributions the core dependencies of pyproject.toml need (with
    theirs, and so on; extras and markers that do not hold left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    found: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker is not None
                             and not requirement.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        wanted.extend(Requirement(r) for r in metadata.distribution(name).requires or ())
    return found


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only the core distributions' installed files (linked), as the
    site-packages of a fresh ``pip install assay`` would."""
    site = tmp_path_factory.mktemp("core-site-packages")
    for name in core_distributions():
        distribution = metadata.distribution(name)
        for file in distribution.files or ():
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # scripts beside site-packages; bytecode is made again
            link = site / file
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(Path(str(distribution.locate_file(file))).resolve())
    return site


def test_the_core_install_holds_no_web_stack_and_no_extra() -> None:
    names = core_distributions()
    assert {"httpx", "opentelemetry-proto", "sqlalchemy"} <= names
    for name in ("fastapi", "starlette", "uvicorn", "jinja2", "pydantic", "pandas",
                 "psycopg", "opentelemetry-sdk"):
        assert name not in names, f"the core install brings {name}"


@pytest.mark.parametrize("uri", [None, "sqlite:///t.db", "http://127.0.0.1:5000"])
def test_importing_assay_loads_no_server_stack_and_no_sql(core: Path, uri: str | None) -> None:
    env = {} if uri is None else {"ASSAY_TRACKING_URI": uri}
    loaded, _ = modules_after("import assay, assay.entities, assay.tracing", env, core)
    assert loaded_of(loaded, SERVER_STACK + SQL_STACK + EXTRAS) == []


def test_tracing_to_sqlite_needs_only_the_core_install(core: Path, tmp_path: Path) -> None:
    loaded, printed = modules_after(f'''
import assay
assay.set_tracking_uri("sqlite:///{tmp_path}/t.db")
@assay.trace
def f(): return 1
f()
print(len(assay.get_trace(assay.get_last_active_trace_id()).data.spans))
''', core=core)
    assert printed == "1"
    assert "sqlalchemy" in loaded
    assert loaded_of(loaded, SERVER_STACK + EXTRAS + ("psycopg",)) == []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``assay server`` over a SQLite file: its URL, and the file's URI."""
    database = f"sqlite:///{tmp_path / 'server.db'}"
    process = ServerProcess(database, tmp_path)
    try:
        yield process.wait_bound(60), database
    finally:
        process.kill()


def test_tracing_to_a_server_needs_only_the_core_install(core: Path,
                                                         server: tuple[str, str]) -> None:
    url, database = server
    loaded, printed = modules_after('''
import json
import assay
from assay.entities import AssessmentSource
from assay.tracing import get_export_status
assay.set_experiment("client-install")

@assay.trace
def answer(question: str) -> str:
    return "42"

answer("What is the answer?")
trace_id = assay.get_last_active_trace_id()
assay.flush_trace_async_logging()
assay.log_feedback(trace_id=trace_id, name="user_feedback", value=True,
                   source=AssessmentSource("HUMAN", "user-1"))
status = get_export_status()
print(json.dumps({"trace_id": trace_id, "written": status.written, "failed": status.failed}))
''', {"ASSAY_TRACKING_URI": url}, core)
    report = json.loads(printed)
    assert (report["written"], report["failed"]) == (1, 0)
    assert loaded_of(loaded, SERVER_STACK + SQL_STACK + EXTRAS) == []
    assert "assay.store.rest" in loaded and "httpx" in loaded
    # The trace and its feedback are in the server's database.
    store = SqlStore(database)
    try:
        trace = store.get_trace(report["trace_id"])
    finally:
        store.close()
    assert [s.name for s in trace.data.spans] == ["answer"]
    assert [(a.name, a.value) for a in trace.info.assessments] == [("user_feedback", True)]


def test_only_the_sql_store_imports_sqlalchemy() -> None:
    root = Path(assay.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "sqlalchemy" in p.read_text()
                 and p.relative_to(root).parts[:2] != ("store", "sql")]
    assert offenders == []


def test_the_server_loads_no_http_client() -> None:
    # The server reads the SDK's OTLP conventions from assay.store.rest.otlp; the REST store
    # and httpx (with its command line's dependencies where they are installed: 0.2 s) are
    # the SDK's alone, and every `assay server` process would import them for nothing.
    modules, _ = modules_after("import assay.server.app")
    assert loaded_of(modules, ("httpx", "assay.store.rest.store", "rich")) == []
