"""Evaluation datasets in the SQL store: datasets, their versions and their records.

A record's row holds one state of it for a range of versions (``valid_from`` ≤ v <
``valid_to``); a change closes the rows it replaces or deletes and adds rows for what it
writes, so a version costs what changed. Reading version v takes the rows valid at v.
A change locks the dataset's row (PostgreSQL; SQLite has one writer anyway), so two
changes of one dataset make two versions one after the other.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities.dataset import (
    DatasetInfo,
    DatasetRecord,
    NewRecord,
    check_dataset_experiment_ids,
    check_dataset_id,
    check_dataset_name,
    check_dataset_tags,
    check_record_ids,
    check_version,
    new_dataset_id,
    new_record_id,
)
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.search.dataset_filter import DatasetClause, parse_dataset_filter, parse_dataset_order
from assay.store.checks import check_max_results, experiment_keys
from assay.store.sql.dialect import Dialect, like
from assay.store.sql.experiments import get_experiment
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.schema import (
    dataset_experiments,
    dataset_records,
    dataset_tags,
    dataset_versions,
    datasets,
)

__all__ = [
    "create_dataset",
    "delete_dataset",
    "delete_records",
    "get_dataset",
    "list_records",
    "merge_records",
    "search_datasets",
]

_CHUNK = 500
_ORDER_COLUMNS = {"name": "name", "created_time": "created_time_ms",
                  "last_update_time": "last_update_time_ms"}
_RECORDS_PAGE = "dataset_records"
#: Largest page of records or datasets.
MAX_PAGE = 10_000


def create_dataset(conn: Connection, name: str, experiment_ids: Sequence[str],
                   tags: Mapping[str, str] | None, created_by: str | None,
                   now_ms: int) -> DatasetInfo:
    """Store a new, empty dataset (version 0) and return it."""
    check_dataset_name(name)
    ids = check_dataset_experiment_ids(experiment_ids)
    checked_tags = check_dataset_tags(tags)
    if conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).first():
        raise AlreadyExistsError(f"Dataset with name {name!r} already exists")
    experiment_ids = [get_experiment(conn, e).experiment_id for e in ids]
    dataset_id = new_dataset_id()
    conn.execute(datasets.insert().values(
        dataset_id=dataset_id, name=name, version=0, created_time_ms=now_ms,
        last_update_time_ms=now_ms, created_by=created_by, last_updated_by=created_by))
    conn.execute(dataset_experiments.insert(), [
        {"dataset_id": dataset_id, "experiment_id": int(e)} for e in experiment_ids])
    if checked_tags:
        conn.execute(dataset_tags.insert(), [
            {"dataset_id": dataset_id, "key": k, "value": v} for k, v in checked_tags.items()])
    _add_version(conn, dataset_id, 0, 0, now_ms, created_by)
    return get_dataset(conn, dataset_id=dataset_id)


def get_dataset(conn: Connection, *, dataset_id: str | None = None, name: str | None = None,
                version: int | None = None) -> DatasetInfo:
    """The dataset with this id or name at ``version`` (default the latest)."""
    wanted = check_version(version)
    row = _dataset_row(conn, dataset_id, name, for_update=False)
    if wanted is not None and wanted > row["version"]:
        raise NotFoundError(
            f"Dataset {row['name']!r} has no version {wanted}; its latest is {row['version']}")
    return _infos(conn, [row], wanted)[0]


def delete_dataset(conn: Connection, dataset_id: str) -> None:
    """Delete a dataset, every version of its records, its tags and experiment links."""
    _dataset_row(conn, dataset_id, None, for_update=True)
    for table in (dataset_records, dataset_versions, dataset_tags, dataset_experiments):
        conn.execute(table.delete().where(table.c.dataset_id == dataset_id))
    conn.execute(datasets.delete().where(datasets.c.dataset_id == dataset_id))


def merge_records(conn: Connection, dataset_id: str, records: Sequence[NewRecord],
                  user: str | None, now_ms: int) -> DatasetInfo:
    """Upsert records by inputs digest; a new version when anything changed (see
    :meth:`~assay.store.datasets.Datasets.merge_dataset_records`)."""
    row = _dataset_row(conn, dataset_id, None, for_update=True)
    incoming: dict[str, NewRecord] = {}
    for record in records:  # the same inputs twice in one call: merged in order
        earlier = incoming.get(record.digest)
        incoming[record.digest] = record if earlier is None else _merged_new(earlier, record)
    current = _current_by_digest(conn, dataset_id, list(incoming))
    version = row["version"] + 1
    closed: list[int] = []
    rows: list[dict[str, Any]] = []
    position = _max_position(conn, dataset_id)
    added = 0
    for digest, record in incoming.items():
        old = current.get(digest)
        if old is None:
            position += 1
            added += 1
            rows.append(_row_values(dataset_id, new_record_id(), record, now_ms, user, now_ms,
                                    user, version, position))
            continue
        merged = _merged(old, record)
        if merged == _stored(old):
            continue
        closed.append(old["id"])
        rows.append(_row_values(dataset_id, old["record_id"], merged, old["created_time_ms"],
                                old["created_by"], now_ms, user, version, old["position"]))
    if not rows:
        return get_dataset(conn, dataset_id=dataset_id)
    _close_rows(conn, closed, version)
    for start in range(0, len(rows), _CHUNK):
        conn.execute(dataset_records.insert(), rows[start:start + _CHUNK])
    return _new_version(conn, row, version, added, now_ms, user)


def delete_records(conn: Connection, dataset_id: str, record_ids: Sequence[str],
                   user: str | None, now_ms: int) -> DatasetInfo:
    """Close the current rows of these records in a new version (none if none was there)."""
    wanted = check_record_ids(record_ids)
    row = _dataset_row(conn, dataset_id, None, for_update=True)
    found: list[int] = []
    for start in range(0, len(wanted), _CHUNK):
        found.extend(conn.execute(
            sa.select(dataset_records.c.id).where(
                dataset_records.c.dataset_id == dataset_id,
                dataset_records.c.record_id.in_(wanted[start:start + _CHUNK]),
                dataset_records.c.valid_to.is_(None))).scalars())
    if not found:
        return get_dataset(conn, dataset_id=dataset_id)
    version = row["version"] + 1
    _close_rows(conn, found, version)
    return _new_version(conn, row, version, -len(found), now_ms, user)


def list_records(conn: Connection, dataset_id: str, version: int | None, max_results: int,
                 page_token: str | None) -> tuple[list[DatasetRecord], str | None]:
    """The records of a version in the order they were first added, a page at a time."""
    check_max_results(max_results)
    info = get_dataset(conn, dataset_id=dataset_id, version=version)
    size = min(max_results, MAX_PAGE)
    r = dataset_records.c
    query = (sa.select(dataset_records)
             .where(r.dataset_id == info.dataset_id, r.valid_from <= info.version,
                    sa.or_(r.valid_to.is_(None), r.valid_to > info.version))
             .order_by(r.position).limit(size + 1))
    if page_token is not None:
        after, token_version = decode_page_token(page_token, _RECORDS_PAGE, int)
        if token_version != info.version:
            raise InvalidParameterError(
                f"Invalid page_token: it is for version {token_version}, not "
                f"{info.version}")
        query = query.where(r.position > after)
    found = [row._mapping for row in conn.execute(query)]
    token = None
    if len(found) > size:
        found = found[:size]
        token = encode_page_token(_RECORDS_PAGE, (found[-1]["position"], info.version))
    return [_to_record(row) for row in found], token


def search_datasets(conn: Connection, dialect: Dialect, experiment_ids: Sequence[str] | None,
                    filter_string: str | None, max_results: int,
                    order_by: Sequence[str] | None,
                    page_token: str | None) -> tuple[list[DatasetInfo], str | None]:
    """Datasets matching the filter (of these experiments, when given), a page at a time."""
    check_max_results(max_results)
    clauses = parse_dataset_filter(filter_string)
    order = parse_dataset_order(order_by)
    size = min(max_results, MAX_PAGE)
    d = datasets.c
    column: sa.ColumnElement[Any] = d[_ORDER_COLUMNS[order.field]]
    query = sa.select(datasets)
    if experiment_ids is not None:
        keys = experiment_keys(experiment_ids)
        query = query.where(d.dataset_id.in_(
            sa.select(dataset_experiments.c.dataset_id)
            .where(dataset_experiments.c.experiment_id.in_(keys))))
    for clause in clauses:
        query = query.where(_condition(dialect, clause))
    kind = f"datasets:{order.field}:{'asc' if order.ascending else 'desc'}"
    if page_token is not None:
        if order.field == "name":
            last_id, last_value = decode_page_token(page_token, kind, str)
        else:
            last_value, last_id = decode_page_token(page_token, kind, int)
        if order.ascending:
            query = query.where(sa.or_(column > last_value,
                                       sa.and_(column == last_value, d.id > last_id)))
        else:
            query = query.where(sa.or_(column < last_value,
                                       sa.and_(column == last_value, d.id < last_id)))
    if order.ascending:
        query = query.order_by(column.asc(), d.id.asc())
    else:
        query = query.order_by(column.desc(), d.id.desc())
    found = [row._mapping for row in conn.execute(query.limit(size + 1))]
    token = None
    if len(found) > size:
        found = found[:size]
        last = found[-1]
        key: tuple[int, int | str] = (
            (last["id"], last["name"]) if order.field == "name"
            else (last[_ORDER_COLUMNS[order.field]], last["id"]))
        token = encode_page_token(kind, key)
    return _infos(conn, found, None), token


# -- helpers ---------------------------------------------------------------------------------

def _dataset_row(conn: Connection, dataset_id: str | None, name: str | None,
                 for_update: bool) -> RowMapping:
    if (dataset_id is None) == (name is None):
        raise InvalidParameterError("Pass exactly one of dataset_id and name")
    if dataset_id is not None:
        check_dataset_id(dataset_id)
        query = sa.select(datasets).where(datasets.c.dataset_id == dataset_id)
    else:
        check_dataset_name(name)
        query = sa.select(datasets).where(datasets.c.name == name)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        what = f"ID {dataset_id!r}" if dataset_id is not None else f"name {name!r}"
        raise NotFoundError(f"Dataset with {what} not found")
    return row._mapping


def _infos(conn: Connection, rows: Sequence[RowMapping],
           version: int | None) -> list[DatasetInfo]:
    if not rows:
        return []
    ids = [row["dataset_id"] for row in rows]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    experiments: dict[str, list[str]] = {i: [] for i in ids}
    versions: dict[str, RowMapping] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for tag in conn.execute(sa.select(dataset_tags).where(
                dataset_tags.c.dataset_id.in_(chunk)).order_by(dataset_tags.c.id)):
            tags[tag.dataset_id][tag.key] = tag.value
        for link in conn.execute(sa.select(dataset_experiments).where(
                dataset_experiments.c.dataset_id.in_(chunk)).order_by(dataset_experiments.c.id)):
            experiments[link.dataset_id].append(str(link.experiment_id))
        v = dataset_versions.c
        query = sa.select(dataset_versions).join(
            datasets, datasets.c.dataset_id == v.dataset_id).where(v.dataset_id.in_(chunk))
        query = query.where(v.version == (version if version is not None
                                          else datasets.c.version))
        for found in conn.execute(query):
            versions[found.dataset_id] = found._mapping
    infos = []
    for row in rows:
        at = versions[row["dataset_id"]]
        infos.append(DatasetInfo(
            dataset_id=row["dataset_id"], name=row["name"],
            experiment_ids=tuple(experiments[row["dataset_id"]]), tags=tags[row["dataset_id"]],
            version=at["version"], num_records=at["num_records"],
            created_time=row["created_time_ms"], last_update_time=at["created_time_ms"],
            created_by=row["created_by"], last_updated_by=at["created_by"]))
    return infos


def _add_version(conn: Connection, dataset_id: str, version: int, num_records: int,
                 now_ms: int, user: str | None) -> None:
    conn.execute(dataset_versions.insert().values(
        dataset_id=dataset_id, version=version, num_records=num_records,
        created_time_ms=now_ms, created_by=user))


def _new_version(conn: Connection, row: RowMapping, version: int, change: int, now_ms: int,
                 user: str | None) -> DatasetInfo:
    previous = conn.execute(sa.select(dataset_versions.c.num_records).where(
        dataset_versions.c.dataset_id == row["dataset_id"],
        dataset_versions.c.version == row["version"])).scalar_one()
    _add_version(conn, row["dataset_id"], version, previous + change, now_ms, user)
    conn.execute(datasets.update().where(datasets.c.id == row["id"]).values(
        version=version, last_update_time_ms=now_ms, last_updated_by=user))
    return get_dataset(conn, dataset_id=row["dataset_id"])


def _close_rows(conn: Connection, row_ids: list[int], version: int) -> None:
    for start in range(0, len(row_ids), _CHUNK):
        conn.execute(dataset_records.update()
                     .where(dataset_records.c.id.in_(row_ids[start:start + _CHUNK]))
                     .values(valid_to=version))


def _current_by_digest(conn: Connection, dataset_id: str,
                       digests: list[str]) -> dict[str, RowMapping]:
    found: dict[str, RowMapping] = {}
    r = dataset_records.c
    for start in range(0, len(digests), _CHUNK):
        for row in conn.execute(sa.select(dataset_records).where(
                r.dataset_id == dataset_id, r.inputs_digest.in_(digests[start:start + _CHUNK]),
                r.valid_to.is_(None))):
            found[row.inputs_digest] = row._mapping
    return found


def _max_position(conn: Connection, dataset_id: str) -> int:
    found = conn.execute(sa.select(sa.func.max(dataset_records.c.position)).where(
        dataset_records.c.dataset_id == dataset_id)).scalar()
    return int(found or 0)


def _merged_new(old: NewRecord, new: NewRecord) -> NewRecord:
    return NewRecord(inputs=old.inputs, digest=old.digest,
                     outputs=old.outputs if new.outputs is None else new.outputs,
                     expectations={**old.expectations, **new.expectations},
                     tags={**old.tags, **new.tags}, source=old.source or new.source)


def _stored(row: RowMapping) -> NewRecord:
    return NewRecord(inputs=_json.loads(row["inputs"]), digest=row["inputs_digest"],
                     outputs=_json.loads(row["outputs"]),
                     expectations=_json.loads(row["expectations"]),
                     tags=_json.loads(row["tags"]), source=_json.loads(row["source"]))


def _merged(row: RowMapping, new: NewRecord) -> NewRecord:
    # Compared as stored (JSON round trip) so that an unchanged record is seen as such.
    merged = _merged_new(_stored(row), new)
    return NewRecord(inputs=merged.inputs, digest=merged.digest,
                     outputs=_json.to_jsonable(merged.outputs),
                     expectations=_json.to_jsonable(dict(merged.expectations)),
                     tags=dict(merged.tags),
                     source=None if merged.source is None else _json.to_jsonable(
                         dict(merged.source)))


def _row_values(dataset_id: str, record_id: str, record: NewRecord, created_ms: int,
                created_by: str | None, updated_ms: int, updated_by: str | None, version: int,
                position: int) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "record_id": record_id,
            "inputs_digest": record.digest, "inputs": _json.dumps(dict(record.inputs)),
            "outputs": None if record.outputs is None else _json.dumps(record.outputs),
            "expectations": _json.dumps(dict(record.expectations)),
            "tags": _json.dumps(dict(record.tags)),
            "source": None if record.source is None else _json.dumps(dict(record.source)),
            "created_time_ms": created_ms, "created_by": created_by,
            "last_update_time_ms": updated_ms, "last_updated_by": updated_by,
            "valid_from": version, "valid_to": None, "position": position}


def _to_record(row: RowMapping) -> DatasetRecord:
    return DatasetRecord(
        record_id=row["record_id"], dataset_id=row["dataset_id"],
        inputs=_json.loads(row["inputs"]), outputs=_json.loads(row["outputs"]),
        expectations=_json.loads(row["expectations"]), tags=_json.loads(row["tags"]),
        source=_json.loads(row["source"]), created_time=row["created_time_ms"],
        last_update_time=row["last_update_time_ms"], created_by=row["created_by"],
        last_updated_by=row["last_updated_by"])


def _condition(dialect: Dialect, clause: DatasetClause) -> sa.ColumnElement[bool]:
    d = datasets.c
    if clause.field == "tags":
        t = dataset_tags.c
        value_test = _compare(dialect, t.value, clause.op, clause.value)
        return sa.exists().where(t.dataset_id == d.dataset_id, t.key == clause.key,
                                 value_test)
    column: sa.ColumnElement[Any] = {
        "name": d.name, "dataset_id": d.dataset_id, "created_by": d.created_by,
        "last_updated_by": d.last_updated_by, "created_time": d.created_time_ms,
        "last_update_time": d.last_update_time_ms}[clause.field]
    return _compare(dialect, column, clause.op, clause.value)


def _compare(dialect: Dialect, column: sa.ColumnElement[Any], op: str,
             value: str | int) -> sa.ColumnElement[bool]:
    if op in ("LIKE", "ILIKE"):
        assert isinstance(value, str)
        return like(dialect, column, value, ignore_case=op == "ILIKE")
    comparisons: dict[str, Any] = {
        "=": column.__eq__, "!=": column.__ne__, "<": column.__lt__, "<=": column.__le__,
        ">": column.__gt__, ">=": column.__ge__}
    result: sa.ColumnElement[bool] = comparisons[op](value)
    return result
