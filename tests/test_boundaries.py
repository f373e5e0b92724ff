"""Layers point one way: the SDK never pulls in the server stack, or SQL before it is used."""

from __future__ import annotations

import subprocess
import sys


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_assay_loads_no_server_stack_and_no_sql() -> None:
    loaded = modules_after("import assay, assay.entities, assay.tracing")
    for name in ("fastapi", "starlette", "jinja2", "uvicorn", "sqlalchemy", "alembic",
                 "pandas", "psycopg"):
        assert name not in loaded, f"import assay loaded {name}"


def test_tracing_to_sqlite_loads_no_server_stack(tmp_path: object) -> None:
    loaded = modules_after(f'''
import assay
assay.set_tracking_uri("sqlite:///{tmp_path}/t.db")
@assay.trace
def f(): return 1
f()
assay.get_trace(assay.get_last_active_trace_id())
''')
    assert "sqlalchemy" in loaded
    for name in ("fastapi", "starlette", "jinja2", "uvicorn", "pandas", "psycopg"):
        assert name not in loaded, f"tracing loaded {name}"


def test_only_the_store_imports_sqlalchemy() -> None:
    import pathlib

    import assay

    root = pathlib.Path(assay.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "sqlalchemy" in p.read_text() and "store" not in p.parts]
    assert offenders == []
