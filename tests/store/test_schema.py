"""Opening the SQL store: engines, SQLite settings, migrations, and errors on opening."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import assay.store.sql.migrations as migrations_package
from assay.errors import AssayError, InvalidTrackingURIError
from assay.store import open_store
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.migrations import HEAD_REVISION, read_revision
from assay.store.sql.schema import metadata
from factories import make_trace

MIGRATIONS_DIR = Path(migrations_package.__file__).parent
# Indexes that exist on one dialect only (see dialect.value_lookup_index).
DIALECT_SPECIFIC_INDEXES = {
    "ix_trace_tags_key_value", "ix_trace_metadata_key_value",
    "ix_trace_tags_value", "ix_trace_metadata_value",
}


def _alembic_config(conn: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    return config


def test_head_revision_matches_the_migration_scripts() -> None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert script.get_heads() == [HEAD_REVISION]


def test_migrated_database_matches_schema_module(empty_database_uri: str) -> None:
    SqlStore(empty_database_uri).close()
    engine, _ = create_engine(empty_database_uri)
    try:
        with engine.connect() as conn:
            assert read_revision(conn) == HEAD_REVISION
            context = MigrationContext.configure(conn, opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to:
                    not (type_ == "index" and name in DIALECT_SPECIFIC_INDEXES)
                    and name != "alembic_version",
            })
            assert compare_metadata(context, metadata) == []
            index_names = {ix["name"] for ix in sa.inspect(conn).get_indexes("trace_tags")}
    finally:
        engine.dispose()
    expected = {"sqlite": "ix_trace_tags_key_value", "postgresql": "ix_trace_tags_value"}
    assert expected[engine.dialect.name] in index_names


def test_downgrade_then_reopen_recreates_the_schema(empty_database_uri: str) -> None:
    store = SqlStore(empty_database_uri)
    store.log_traces([make_trace()])
    store.close()
    engine, _ = create_engine(empty_database_uri)
    try:
        from alembic import command

        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "base")
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("traces")
            assert read_revision(conn) is None
    finally:
        engine.dispose()
    reopened = SqlStore(empty_database_uri)
    try:
        assert reopened.get_experiment("0").name == "Default"
        assert len(reopened.search_traces(["0"])) == 0
    finally:
        reopened.close()


def test_reopening_an_up_to_date_database_does_not_import_alembic(empty_sqlite_uri: str) -> None:
    SqlStore(empty_sqlite_uri).close()
    code = (
        "import sys\n"
        "from assay.store.sql import SqlStore\n"
        f"SqlStore({empty_sqlite_uri!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_processes_opening_a_new_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    code = (
        "import sys\n"
        "from assay.store.sql import SqlStore\n"
        "s = SqlStore(sys.argv[1])\n"
        "print(s.get_experiment('0').name)\n"
        "s.close()\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "Default"
    store = SqlStore(uri)
    try:
        assert [e.experiment_id for e in store.search_experiments()] == ["0"]
    finally:
        store.close()


def test_processes_writing_one_sqlite_file_at_once_all_land(sqlite_uri: str) -> None:
    SqlStore(sqlite_uri).close()
    code = (
        "import sys\n"
        "from factories import make_trace\n"
        "from assay.store.sql import SqlStore\n"
        "s = SqlStore(sys.argv[1])\n"
        "for _ in range(5):\n"
        "    s.log_traces([make_trace() for _ in range(50)])\n"
        "s.close()\n"
    )
    tests_dir = str(Path(__file__).parents[1])
    procs = [subprocess.Popen([sys.executable, "-c", code, sqlite_uri], cwd=tests_dir,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = SqlStore(sqlite_uri)
    try:
        assert len(store.search_traces(["0"], max_results=1000, include_spans=False)) == 750
    finally:
        store.close()


def test_threads_opening_a_new_database_at_once_all_succeed(empty_database_uri: str) -> None:
    stores: list[SqlStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(SqlStore(empty_database_uri))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [e.name for e in stores[0].search_experiments()] == ["Default"]
    finally:
        for opened in stores:
            opened.close()


def test_sqlite_connections_get_their_pragmas(empty_sqlite_uri: str) -> None:
    SqlStore(empty_sqlite_uri).close()
    engine, _ = create_engine(empty_sqlite_uri)
    try:
        with engine.connect() as conn:
            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30_000
            assert pragma("wal_autocheckpoint") == 10_000
            assert pragma("cache_size") == -16 * 1024  # KiB
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_shared_across_threads() -> None:
    store = SqlStore("sqlite:///:memory:")
    try:
        experiment_ids: list[str] = []
        creator = threading.Thread(
            target=lambda: experiment_ids.append(store.create_experiment("from a thread")))
        creator.start()
        creator.join()
        batches = [[make_trace(experiment_id=experiment_ids[0]) for _ in range(20)]
                   for _ in range(5)]
        writers = [threading.Thread(target=store.log_traces, args=(b,)) for b in batches]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert store.get_experiment(experiment_ids[0]).name == "from a thread"
        assert len(store.search_traces(experiment_ids, max_results=500)) == 100
    finally:
        store.close()


@pytest.mark.parametrize("attempt", range(6))
def test_closing_an_in_memory_store_waits_for_the_statement_in_flight(attempt: int) -> None:
    # Its one connection is shared by every thread: closed under a thread's statement, it
    # crashed the process. A writer that goes on after the close is told the store is closed.
    store = SqlStore("sqlite:///:memory:")
    experiment_id = store.create_experiment("busy")
    batch = [make_trace(experiment_id=experiment_id, num_spans=20) for _ in range(20)]
    started = threading.Event()
    stopped: list[BaseException] = []

    def write_until_closed() -> None:
        started.set()
        try:
            while True:
                store.log_traces(batch)  # written again: the same traces, replaced
        except BaseException as exc:  # what stopped it is the finding
            stopped.append(exc)

    writer = threading.Thread(target=write_until_closed)
    writer.start()
    started.wait()
    time.sleep(0.003 * attempt)  # the close comes at a different point of each attempt
    store.close()
    writer.join(10)
    assert not writer.is_alive()
    [error] = stopped
    assert type(error) is AssayError and "is closed" in error.message


def test_open_store_picks_the_sql_store(sqlite_uri: str) -> None:
    store = open_store(sqlite_uri)
    try:
        assert isinstance(store, SqlStore)
        assert store.uri == sqlite_uri
    finally:
        store.close()


def test_postgres_alias_scheme_works(postgres_uri: str) -> None:
    store = SqlStore("postgres://" + postgres_uri.removeprefix("postgresql://"))
    try:
        assert store.get_experiment("0").name == "Default"
    finally:
        store.close()


def test_unreachable_postgres_is_a_clear_error_with_the_password_masked() -> None:
    uri = "postgresql://assay:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(AssayError) as info:
        SqlStore(uri)
    message = str(info.value)
    assert "postgresql://assay:***@127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message
    assert info.value.__cause__ is None


def test_sqlite_file_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'assay.db'}"
    with pytest.raises(AssayError, match=r"Cannot use the database at .*no/such/dir"):
        SqlStore(uri)


@pytest.mark.parametrize("uri", [
    "postgresql+psycopg2://u@localhost/db",
    "sqlite+aiosqlite:///x.db",
    "mysql://u@localhost/db",
    "sqlite:/relative.db",
])
def test_unsupported_uris_are_rejected(uri: str) -> None:
    with pytest.raises(InvalidTrackingURIError):
        SqlStore(uri)


def test_missing_psycopg_says_what_to_install() -> None:
    # None in sys.modules is how Python itself spells "this module cannot be imported".
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from assay.errors import InvalidTrackingURIError\n"
        "from assay.store.sql import SqlStore\n"
        "try:\n"
        "    SqlStore('postgresql://u:pw@127.0.0.1:1/db')\n"
        "except InvalidTrackingURIError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert "pip install 'assay[postgres]'" in result.stdout
    assert "pw" not in result.stdout


def test_a_closed_store_refuses_work(sqlite_uri: str) -> None:
    store = SqlStore(sqlite_uri)
    store.close()
    with pytest.raises(AssayError, match="is closed"):
        store.get_experiment("0")
