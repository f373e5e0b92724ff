"""Evaluation datasets through the Store interface, on SQLite, PostgreSQL and a server over
HTTP: dedup and merge, versions, deleting records, search, and hostile arguments."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from assay.entities.dataset import MAX_INPUTS_CHARS, MAX_RECORDS_PER_CHANGE
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.store.base import Store
from assay.store.sql import SqlStore
from assay.store.sql.engine import create_engine
from assay.store.sql.schema import dataset_records


def _inputs(records: list[Any]) -> list[dict[str, Any]]:
    return [dict(r.inputs) for r in records]


def test_a_new_dataset_is_empty_at_version_zero(store: Store) -> None:
    created = store.create_dataset("golden", ["0"], {"team": "search"})
    assert created.dataset_id.startswith("d-") and len(created.dataset_id) == 34
    assert (created.name, created.version, created.num_records) == ("golden", 0, 0)
    assert created.experiment_ids == ("0",) and dict(created.tags) == {"team": "search"}
    assert store.get_dataset(name="golden") == created
    assert store.get_dataset(dataset_id=created.dataset_id) == created
    assert list(store.list_dataset_records(created.dataset_id)) == []
    with pytest.raises(AlreadyExistsError, match="'golden' already exists"):
        store.create_dataset("golden", ["0"])


def test_records_are_deduplicated_by_inputs_and_merged(store: Store) -> None:
    dataset_id = store.create_dataset("qa", ["0"]).dataset_id
    first = store.merge_dataset_records(dataset_id, [
        {"inputs": {"q": "a", "n": 1}, "expectations": {"answer": "A"}, "tags": {"k": "1"}},
        {"inputs": {"q": "b"}, "outputs": "B?"},
        # the same inputs again, keys in another order: one record, merged in order
        {"inputs": {"n": 1, "q": "a"}, "expectations": {"facts": ["x"]}},
    ])
    assert (first.version, first.num_records) == (1, 2)
    a, b = store.list_dataset_records(dataset_id)
    assert dict(a.expectations) == {"answer": "A", "facts": ["x"]}
    assert a.source == {"source_type": "HUMAN", "source_data": {}}
    assert b.source == {"source_type": "CODE", "source_data": {}} and b.outputs == "B?"
    second = store.merge_dataset_records(dataset_id, [
        {"inputs": {"q": "a", "n": 1}, "expectations": {"answer": "AA"}, "tags": {"j": "2"},
         "outputs": "out"},
    ])
    assert (second.version, second.num_records) == (2, 2)
    updated = store.list_dataset_records(dataset_id)[0]
    assert updated.record_id == a.record_id and updated.created_time == a.created_time
    assert dict(updated.expectations) == {"answer": "AA", "facts": ["x"]}
    assert dict(updated.tags) == {"k": "1", "j": "2"} and updated.outputs == "out"
    # merging what is there already changes nothing, and makes no version
    again = store.merge_dataset_records(dataset_id, [
        {"inputs": {"q": "a", "n": 1}, "expectations": {"answer": "AA"}}])
    assert again.version == 2


def test_every_change_makes_a_version_and_old_versions_read_as_they_were(
        store: Store) -> None:
    dataset_id = store.create_dataset("versions", ["0"]).dataset_id
    store.merge_dataset_records(dataset_id, [{"inputs": {"q": str(i)}} for i in range(3)])
    store.merge_dataset_records(dataset_id, [
        {"inputs": {"q": "1"}, "expectations": {"e": 1}}, {"inputs": {"q": "3"}}])
    ids = [r.record_id for r in store.list_dataset_records(dataset_id)]
    deleted = store.delete_dataset_records(dataset_id, [ids[0], ids[2]])
    assert (deleted.version, deleted.num_records) == (3, 2)
    assert _inputs(store.list_dataset_records(dataset_id)) == [{"q": "1"}, {"q": "3"}]
    assert _inputs(store.list_dataset_records(dataset_id, version=1)) == [
        {"q": "0"}, {"q": "1"}, {"q": "2"}]
    v1 = store.list_dataset_records(dataset_id, version=1)
    v2 = store.list_dataset_records(dataset_id, version=2)
    assert dict(v1[1].expectations) == {} and dict(v2[1].expectations) == {"e": 1}
    assert len(v2) == 4
    assert list(store.list_dataset_records(dataset_id, version=0)) == []
    old = store.get_dataset(dataset_id=dataset_id, version=1)
    assert (old.version, old.num_records) == (1, 3)
    assert store.get_dataset(dataset_id=dataset_id).version == 3
    with pytest.raises(NotFoundError, match="no version 4"):
        store.get_dataset(dataset_id=dataset_id, version=4)
    with pytest.raises(NotFoundError, match="no version 9"):
        store.list_dataset_records(dataset_id, version=9)
    # deleting ids that are not there makes no version
    assert store.delete_dataset_records(dataset_id, [ids[0]]).version == 3
    # a record deleted and merged again comes back as a new record
    back = store.merge_dataset_records(dataset_id, [{"inputs": {"q": "0"}}])
    assert back.version == 4
    assert store.list_dataset_records(dataset_id)[-1].record_id != ids[0]


def test_records_are_paged_in_the_order_they_were_added(store: Store) -> None:
    dataset_id = store.create_dataset("paged", ["0"]).dataset_id
    store.merge_dataset_records(dataset_id, [{"inputs": {"i": i}} for i in range(25)])
    first = store.list_dataset_records(dataset_id, max_results=10)
    assert [r.inputs["i"] for r in first] == list(range(10)) and first.token is not None
    second = store.list_dataset_records(dataset_id, max_results=20, page_token=first.token)
    assert [r.inputs["i"] for r in second] == list(range(10, 25)) and second.token is None


def test_search_filters_orders_and_pages(store: Store) -> None:
    other = store.create_experiment("other")
    store.create_dataset("alpha", ["0"], {"team": "search", "tier": "gold"})
    store.create_dataset("beta", ["0", other], {"team": "chat"})
    store.create_dataset("gamma", [other])

    def names(**kwargs: Any) -> list[str]:
        return [d.name for d in store.search_datasets(**kwargs)]

    assert names() == ["gamma", "beta", "alpha"]  # newest first
    assert names(order_by=["name ASC"]) == ["alpha", "beta", "gamma"]
    assert names(experiment_ids=["0"], order_by=["name"]) == ["alpha", "beta"]
    assert names(experiment_ids=[other], order_by=["name DESC"]) == ["gamma", "beta"]
    assert names(filter_string="name = 'beta'") == ["beta"]
    assert names(filter_string="tags.team = 'search'") == ["alpha"]
    assert names(filter_string="tags.team != 'search'") == ["beta"]
    assert names(filter_string="tags.team LIKE '%a%' AND tags.tier = 'gold'") == ["alpha"]
    assert names(filter_string="name ILIKE 'GAM%'") == ["gamma"]
    assert names(filter_string="created_time > 0", order_by=["name"]) == [
        "alpha", "beta", "gamma"]
    page = store.search_datasets(max_results=2, order_by=["name ASC"])
    assert [d.name for d in page] == ["alpha", "beta"] and page.token is not None
    rest = store.search_datasets(max_results=2, order_by=["name ASC"], page_token=page.token)
    assert [d.name for d in rest] == ["gamma"] and rest.token is None
    page = store.search_datasets(max_results=1)
    rest = store.search_datasets(max_results=5, page_token=page.token)
    assert [d.name for d in [*page, *rest]] == ["gamma", "beta", "alpha"]
    beta = store.search_datasets(filter_string="name = 'beta'")[0]
    assert set(beta.experiment_ids) == {"0", other} and dict(beta.tags) == {"team": "chat"}


@pytest.mark.parametrize("filter_string", [
    "nonsense = 'x'", "name = 1", "name > 'a'", "created_time = 'x'", "name = 'a' OR name = 'b'",
    "tags. = 'x'", "name = 'x'; DROP TABLE datasets",
])
def test_a_bad_filter_is_an_error_naming_what_is_wrong(store: Store, filter_string: str) -> None:
    with pytest.raises(InvalidParameterError):
        store.search_datasets(filter_string=filter_string)


def test_delete_a_dataset_with_every_version(store: Store) -> None:
    dataset_id = store.create_dataset("gone", ["0"]).dataset_id
    store.merge_dataset_records(dataset_id, [{"inputs": {"q": "a"}}])
    store.delete_dataset(dataset_id)
    with pytest.raises(NotFoundError, match=dataset_id):
        store.get_dataset(dataset_id=dataset_id)
    with pytest.raises(NotFoundError):
        store.list_dataset_records(dataset_id)
    assert store.create_dataset("gone", ["0"]).version == 0  # the name is free again


@pytest.mark.parametrize(("records", "message"), [
    ("not a list", "Invalid records"),
    ([{"outputs": "no inputs"}], r"records\[0\]\.inputs"),
    ([{"inputs": {}}], r"records\[0\]\.inputs"),
    ([{"inputs": "q"}], r"records\[0\]\.inputs"),
    ([{"inputs": {"q": 1}}, {"inputs": {"q": float("nan")}}], r"records\[1\]\.inputs"),
    ([{"inputs": {"q": 1}, "expectations": ["x"]}], r"records\[0\]\.expectations"),
    ([{"inputs": {"q": 1}, "tags": {"k": 1}}], r"records\[0\]\.tags"),
    ([{"inputs": {"q": 1}, "source": {"source_type": "ALIEN"}}], r"records\[0\]\.source"),
    ([{"inputs": {"q": 1}, "extra": 1}], r"records\[0\]: unknown field"),
    ([{"inputs": {"q": "x" * MAX_INPUTS_CHARS}}], r"records\[0\]\.inputs"),
    ([{"inputs": {"q": i}} for i in range(MAX_RECORDS_PER_CHANGE + 1)], "limit is 10,000"),
])
def test_hostile_records_are_refused_and_nothing_is_written(
        store: Store, records: Any, message: str) -> None:
    dataset_id = store.create_dataset("guarded", ["0"]).dataset_id
    store.merge_dataset_records(dataset_id, [{"inputs": {"q": "kept"}}])
    with pytest.raises(InvalidParameterError, match=message):
        store.merge_dataset_records(dataset_id, records)
    after = store.get_dataset(dataset_id=dataset_id)
    assert (after.version, after.num_records) == (1, 1)


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.create_dataset("", ["0"]), "Invalid name"),
    (lambda s: s.create_dataset("x" * 251, ["0"]), "Invalid name"),
    (lambda s: s.create_dataset("nul\x00", ["0"]), "NUL"),
    (lambda s: s.create_dataset("ok", []), "experiment_ids"),
    (lambda s: s.create_dataset("ok", ["0"], {"k": 5}), "tags"),
    (lambda s: s.get_dataset(dataset_id="d-nothex"), "dataset_id"),
    (lambda s: s.get_dataset(name="a", dataset_id="d-" + "0" * 32), "exactly one"),
    (lambda s: s.get_dataset(name="a", version=-1), "version"),
    (lambda s: s.delete_dataset_records("d-" + "0" * 32, ["r1"]), "record_ids"),
    (lambda s: s.list_dataset_records("d-" + "0" * 32, max_results=0), "max_results"),
    (lambda s: s.search_datasets(order_by=["size"]), "order_by"),
])
def test_bad_arguments_name_the_field(store: Store, call: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call(store)


def test_a_missing_experiment_or_dataset_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.create_dataset("lost", ["4242"])
    assert list(store.search_datasets()) == []  # nothing half-made
    with pytest.raises(NotFoundError):
        store.get_dataset(name="nope")
    with pytest.raises(NotFoundError):
        store.merge_dataset_records("d-" + "0" * 32, [{"inputs": {"q": 1}}])
    with pytest.raises(NotFoundError):
        store.delete_dataset("d-" + "0" * 32)


def test_concurrent_changes_of_one_dataset_make_one_version_each(sql_store: SqlStore) -> None:
    dataset_id = sql_store.create_dataset("busy", ["0"]).dataset_id
    errors: list[BaseException] = []

    def merge(worker: int) -> None:
        try:
            for batch in range(3):
                sql_store.merge_dataset_records(dataset_id, [
                    {"inputs": {"worker": worker, "batch": batch, "i": i}} for i in range(20)]
                    + [{"inputs": {"shared": True}, "tags": {f"w{worker}": str(batch)}}])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=merge, args=(n,), name=f"merge-{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    latest = sql_store.get_dataset(dataset_id=dataset_id)
    assert (latest.version, latest.num_records) == (12, 4 * 3 * 20 + 1)
    records = sql_store.list_dataset_records(dataset_id, max_results=10_000)
    assert len(records) == latest.num_records
    shared = [r for r in records if "shared" in r.inputs]
    assert len(shared) == 1 and dict(shared[0].tags) == {f"w{n}": "2" for n in range(4)}
    counts = [sql_store.get_dataset(dataset_id=dataset_id, version=v).num_records
              for v in range(13)]
    assert counts == [0, *sorted(counts[1:])] and counts[1] == 21
    for version, count in enumerate(counts):
        assert len(sql_store.list_dataset_records(dataset_id, version, 10_000)) == count


def test_a_version_stores_what_changed_not_a_copy(database_uri: str) -> None:
    store = SqlStore(database_uri)
    try:
        dataset_id = store.create_dataset("big", ["0"]).dataset_id
        store.merge_dataset_records(dataset_id, [{"inputs": {"i": i}} for i in range(200)])
        for version in range(5):
            store.merge_dataset_records(dataset_id, [
                {"inputs": {"i": version}, "expectations": {"v": version}}])
        first = store.list_dataset_records(dataset_id, max_results=1)[0].record_id
        store.delete_dataset_records(dataset_id, [first])
    finally:
        store.close()
    engine, _ = create_engine(database_uri)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(dataset_records)
                                .where(dataset_records.c.dataset_id == dataset_id)).scalar()
    finally:
        engine.dispose()
    assert rows == 200 + 5  # seven versions, one row per record plus one per update
