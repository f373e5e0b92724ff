"""Experiments in the SQL store: create, look up and list them.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities import Experiment
from assay.entities._checks import check_key
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.store.checks import (
    check_experiment_name,
    check_experiment_tags,
    check_max_results,
    parse_experiment_id,
)
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.schema import experiments

__all__ = [
    "create_experiment",
    "find_experiment_by_name",
    "get_experiment",
    "list_experiments",
    "missing_experiment_ids",
    "parse_experiment_id",
]

_ACTIVE = "active"
_PAGE_KIND = "experiments"


def create_experiment(conn: Connection, name: str,
                      tags: Mapping[str, str] | None = None) -> str:
    """Create an experiment and return its id; AlreadyExistsError if the name is taken."""
    check_experiment_name(name)
    tag_dict = check_experiment_tags(tags)
    if find_experiment_by_name(conn, name) is not None:
        raise _already_exists(name)
    now_ms = int(time.time() * 1000)
    try:
        result = conn.execute(
            experiments.insert().returning(experiments.c.experiment_id),
            {"name": name, "lifecycle_stage": _ACTIVE, "creation_time_ms": now_ms,
             "last_update_time_ms": now_ms, "tags": _json.dumps(tag_dict)},
        )
    except sa.exc.IntegrityError as exc:  # created by someone else since the check above
        raise _already_exists(name) from exc
    return str(result.scalar_one())


def get_experiment(conn: Connection, experiment_id: str) -> Experiment:
    """The experiment with this id; NotFoundError (naming the id) otherwise."""
    check_key("experiment_id", experiment_id)
    key = parse_experiment_id(experiment_id)
    row = None
    if key is not None:
        row = conn.execute(
            sa.select(experiments).where(experiments.c.experiment_id == key)).first()
    if row is None:
        raise NotFoundError(f"Experiment with ID {experiment_id!r} not found")
    return _to_experiment(row._mapping)


def find_experiment_by_name(conn: Connection, name: str) -> Experiment | None:
    """The experiment with exactly this name, or None."""
    if not isinstance(name, str):
        raise InvalidParameterError(
            f"Invalid experiment name {name!r}: expected a string, got {type(name).__name__}")
    check_key("experiment name", name)
    row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
    return None if row is None else _to_experiment(row._mapping)


def list_experiments(conn: Connection, max_results: int,
                     page_token: str | None) -> PagedList[Experiment]:
    """Experiments newest first (creation time, then id, descending), one page at a time."""
    check_max_results(max_results)
    query = sa.select(experiments)
    if page_token is not None:
        created_ms, last_id = decode_page_token(page_token, _PAGE_KIND, int)
        query = query.where(
            experiments.c.creation_time_ms <= created_ms,
            sa.or_(experiments.c.creation_time_ms < created_ms,
                   experiments.c.experiment_id < last_id),
        )
    query = query.order_by(experiments.c.creation_time_ms.desc(),
                           experiments.c.experiment_id.desc()).limit(max_results + 1)
    rows = [row._mapping for row in conn.execute(query)]
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        last = rows[-1]
        token = encode_page_token(_PAGE_KIND,
                                  (last["creation_time_ms"], last["experiment_id"]))
    return PagedList([_to_experiment(row) for row in rows], token)


def missing_experiment_ids(conn: Connection, experiment_ids: Sequence[str]) -> list[str]:
    """Those of ``experiment_ids`` that name no experiment, in the order given."""
    keys = {experiment_id: parse_experiment_id(experiment_id)
            for experiment_id in experiment_ids}
    wanted = {key for key in keys.values() if key is not None}
    found: set[int] = set()
    if wanted:
        found = set(conn.execute(
            sa.select(experiments.c.experiment_id)
            .where(experiments.c.experiment_id.in_(sorted(wanted)))).scalars())
    return [experiment_id for experiment_id, key in keys.items() if key not in found]


def _to_experiment(row: RowMapping) -> Experiment:
    tags = _json.loads(row["tags"])
    return Experiment(
        experiment_id=str(row["experiment_id"]),
        name=row["name"],
        creation_time=row["creation_time_ms"],
        last_update_time=row["last_update_time_ms"],
        tags=dict(tags) if isinstance(tags, dict) else {},
        lifecycle_stage=row["lifecycle_stage"],
    )


def _already_exists(name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"Experiment with name {name!r} already exists")
