"""Experiments in the SQL store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.sql import SqlStore
from factories import make_trace

INJECTION = "x'); DROP TABLE traces; --"


def test_default_experiment_exists_in_a_new_database(store: SqlStore) -> None:
    default = store.get_experiment("0")
    assert default.experiment_id == "0"
    assert default.name == "Default"
    assert default.lifecycle_stage == "active"
    assert default.tags == {}
    assert default.creation_time > 1_600_000_000_000
    assert store.find_experiment_by_name("Default") == default


def test_create_experiment_returns_a_numeric_string_id(store: SqlStore) -> None:
    first = store.create_experiment("first")
    second = store.create_experiment("second")
    assert first == "1"
    assert second == "2"


def test_create_experiment_round_trips_name_and_tags(store: SqlStore) -> None:
    experiment_id = store.create_experiment("/Shared/production-app",
                                            tags={"team": "search", "env": "prod"})
    experiment = store.get_experiment(experiment_id)
    assert experiment.experiment_id == experiment_id
    assert experiment.name == "/Shared/production-app"
    assert experiment.tags == {"team": "search", "env": "prod"}
    assert experiment.creation_time == experiment.last_update_time
    assert store.find_experiment_by_name("/Shared/production-app") == experiment


@pytest.mark.parametrize("name", ["实验 🚀 تجربة", "emoji 👩‍🔬", "עברית/ניסוי", INJECTION])
def test_experiment_names_are_stored_as_plain_values(store: SqlStore, name: str) -> None:
    experiment_id = store.create_experiment(name, tags={"note": INJECTION})
    assert store.get_experiment(experiment_id).name == name
    assert store.get_experiment(experiment_id).tags == {"note": INJECTION}
    # The traces table is still there and usable.
    trace = make_trace(experiment_id=experiment_id)
    store.log_traces([trace])
    assert store.get_trace(trace.info.trace_id).info.experiment_id == experiment_id


def test_create_experiment_with_a_taken_name_fails(store: SqlStore) -> None:
    store.create_experiment("taken")
    with pytest.raises(AlreadyExistsError, match="Experiment with name 'taken' already exists"):
        store.create_experiment("taken")
    with pytest.raises(AlreadyExistsError, match="'Default'"):
        store.create_experiment("Default")


def test_only_one_of_concurrent_creations_with_one_name_succeeds(store: SqlStore) -> None:
    results: list[str] = []
    errors: list[Exception] = []
    start = threading.Barrier(6)

    def create() -> None:
        start.wait()
        try:
            results.append(store.create_experiment("raced"))
        except AlreadyExistsError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1
    assert len(errors) == 5
    assert store.find_experiment_by_name("raced") == store.get_experiment(results[0])


def test_name_of_500_characters_is_accepted(store: SqlStore) -> None:
    name = "n" * 500
    assert store.get_experiment(store.create_experiment(name)).name == name


@pytest.mark.parametrize(("name", "message"), [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("n" * 501, "501 characters long; the limit is 500"),
    (123, "expected a string, got int"),
    (None, "expected a string, got NoneType"),
])
def test_invalid_experiment_names_are_rejected(store: SqlStore, name: object,
                                               message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        store.create_experiment(name)  # type: ignore[arg-type]  # invalid on purpose


def test_non_string_tags_are_rejected(store: SqlStore) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid experiment tag 'n'"):
        store.create_experiment("tagged", tags={"n": 1})  # type: ignore[dict-item]
    assert store.find_experiment_by_name("tagged") is None


@pytest.mark.parametrize("experiment_id", ["12345", "abc", "-1", "", "1.0", " 0",
                                           "99999999999999999999999"])
def test_get_unknown_experiment_names_the_id(store: SqlStore, experiment_id: str) -> None:
    with pytest.raises(NotFoundError) as info:
        store.get_experiment(experiment_id)
    assert str(info.value) == f"Experiment with ID {experiment_id!r} not found"


def test_find_experiment_by_name_is_exact(store: SqlStore) -> None:
    store.create_experiment("Exact")
    assert store.find_experiment_by_name("exact") is None
    assert store.find_experiment_by_name("Exact ") is None
    assert store.find_experiment_by_name("Exac%") is None
    found = store.find_experiment_by_name("Exact")
    assert found is not None
    assert found.name == "Exact"


def test_search_experiments_lists_newest_first(store: SqlStore) -> None:
    ids = [store.create_experiment(f"exp-{i}") for i in range(3)]
    page = store.search_experiments()
    assert [e.experiment_id for e in page] == [*reversed(ids), "0"]
    assert page.token is None


def test_search_experiments_pages_see_each_experiment_once(store: SqlStore) -> None:
    ids = [store.create_experiment(f"exp-{i}") for i in range(11)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_experiments(max_results=3, page_token=token)
        pages += 1
        assert len(page) <= 3
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if token is None:
            break
    assert seen == [*reversed(ids), "0"]
    assert pages == 4


def test_search_experiments_last_full_page_has_no_token(store: SqlStore) -> None:
    store.create_experiment("one")
    page = store.search_experiments(max_results=2)
    assert len(page) == 2
    assert page.token is None


@pytest.mark.parametrize("token", ["garbage", "", "eyJ2IjoxfQ==", "%%%", "e30="])
def test_search_experiments_rejects_malformed_tokens(store: SqlStore, token: str) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid page_token"):
        store.search_experiments(page_token=token)


def test_search_experiments_rejects_a_token_from_search_traces(store: SqlStore) -> None:
    store.log_traces([make_trace(request_time=1), make_trace(request_time=2)])
    token = store.search_traces(["0"], max_results=1).token
    assert token is not None
    with pytest.raises(InvalidParameterError, match="Invalid page_token"):
        store.search_experiments(page_token=token)


@pytest.mark.parametrize("max_results", [0, -1, True, "10"])
def test_search_experiments_rejects_bad_max_results(store: SqlStore,
                                                    max_results: object) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid max_results"):
        store.search_experiments(max_results=max_results)  # type: ignore[arg-type]
