"""Label schemas in the SQL store: create (or replace), look up, list, update, delete.

Functions take an open Connection; the caller owns the transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from assay import _json
from assay.entities._checks import check_key
from assay.entities.label_schema import (
    EditConflict,
    LabelInput,
    LabelSchema,
    LabelSchemaType,
    edit_conflicts,
    edit_refused,
    input_from_dict,
    input_to_dict,
)
from assay.entities.labeling import MAX_SESSION_SCHEMAS
from assay.entities.review_queue import ReviewQueueType, user_queue_questions
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.paging import PagedList
from assay.store.checks import check_max_results
from assay.store.sql.experiments import get_experiment, parse_experiment_id
from assay.store.sql.page_tokens import decode_page_token, encode_page_token
from assay.store.sql.schema import (
    assessments,
    label_schemas,
    labeling_adjudications,
    labeling_sessions,
    runs,
)

__all__ = [
    "create_label_schema",
    "delete_label_schema",
    "find_label_schemas",
    "get_label_schema",
    "list_label_schemas",
    "update_label_schema",
]

_PAGE_KIND = "label_schemas"


def create_label_schema(conn: Connection, schema: LabelSchema, *, overwrite: bool = False,
                        created_by: str | None = None) -> LabelSchema:
    """Store ``schema`` in its experiment and return it with its id and times.

    An existing schema of the same name is replaced when ``overwrite`` (keeping its id and
    creation time), else AlreadyExistsError naming it. Replacing it is an edit: one that
    would leave answers invalid (another type or input, as :func:`update_label_schema`
    checks) is refused with an InvalidParameterError naming them.
    """
    experiment = get_experiment(conn, schema.experiment_id)
    key = int(experiment.experiment_id)
    now_ms = int(time.time() * 1000)
    existing = _row_by_name(conn, key, schema.name)
    values = {
        "name": schema.name,
        "type": schema.type.value,
        "input": _json.dumps(input_to_dict(schema.input)),
        "title": schema.title,
        "instruction": schema.instruction,
        "enable_comment": schema.enable_comment,
        "updated_time_ms": now_ms,
    }
    if existing is not None:
        if not overwrite:
            raise _already_exists(schema.name, experiment.experiment_id)
        _check_replacement(conn, _to_schema(existing), schema)
        conn.execute(label_schemas.update()
                     .where(label_schemas.c.id == existing["id"]).values(**values))
        return _get_by_key(conn, existing["schema_id"])
    schema_id = "ls-" + uuid.uuid4().hex
    try:
        conn.execute(label_schemas.insert().values(
            schema_id=schema_id, experiment_id=key, created_by=created_by,
            created_time_ms=now_ms, **values))
    except sa.exc.IntegrityError as exc:  # created by someone else since the check above
        raise _already_exists(schema.name, experiment.experiment_id) from exc
    return _get_by_key(conn, schema_id)


def get_label_schema(conn: Connection, *, schema_id: str | None = None,
                     experiment_id: str | None = None, name: str | None = None,
                     lock: bool = False) -> LabelSchema:
    """The schema with this id, or with this name in this experiment; NotFoundError naming
    what was asked for. ``lock`` (by id) holds its row until the transaction ends, so that
    edits take turns."""
    if schema_id is not None:
        check_key("schema_id", schema_id)
        return _get_by_key(conn, schema_id, lock=lock)
    if experiment_id is None or name is None:
        raise InvalidParameterError(
            "Invalid label schema lookup: give schema_id, or experiment_id and name")
    check_key("name", name)
    key = parse_experiment_id(experiment_id)
    row = None if key is None else _row_by_name(conn, key, name)
    if row is None:
        raise NotFoundError(
            f"Label schema {name!r} not found in experiment {experiment_id!r}")
    return _to_schema(row)


def find_label_schemas(conn: Connection, experiment_id: str,
                       names: Sequence[str]) -> dict[str, LabelSchema]:
    """The schemas of the experiment among ``names``, by name (absent names left out): what
    checks a value written under one of those names."""
    key = parse_experiment_id(experiment_id)
    wanted = sorted({name for name in names if isinstance(name, str)})
    if key is None or not wanted:
        return {}
    rows = conn.execute(sa.select(label_schemas).where(
        label_schemas.c.experiment_id == key, label_schemas.c.name.in_(wanted)))
    return {row.name: _to_schema(row._mapping) for row in rows}


def experiment_label_schemas(conn: Connection, experiment_id: str,
                             limit: int) -> dict[str, LabelSchema]:
    """The experiment's first ``limit`` schemas by name, in the order they were created, in
    one query (what a user review queue asks)."""
    key = parse_experiment_id(experiment_id)
    if key is None:
        return {}
    rows = conn.execute(sa.select(label_schemas)
                        .where(label_schemas.c.experiment_id == key)
                        .order_by(label_schemas.c.id).limit(limit))
    return {row.name: _to_schema(row._mapping) for row in rows}


def session_questions(conn: Connection, named: Sequence[str], queue_type: str | None,
                      experiment_id: object) -> tuple[str, ...]:
    """The questions a labeling session asks: the schemas it names, or, for a user review
    queue (which names none), every label schema of its experiment as it is now (one
    created later is asked too), as many as a session may ask. One query for a user queue
    alone."""
    if named or queue_type != ReviewQueueType.USER.value:
        return tuple(named)
    return user_queue_questions(list(experiment_label_schemas(
        conn, str(experiment_id), MAX_SESSION_SCHEMAS)))


def list_label_schemas(conn: Connection, experiment_id: str, max_results: int = 100,
                       page_token: str | None = None) -> PagedList[LabelSchema]:
    """The experiment's schemas in the order they were created, a page at a time."""
    check_max_results(max_results)
    experiment = get_experiment(conn, experiment_id)
    query = sa.select(label_schemas).where(
        label_schemas.c.experiment_id == int(experiment.experiment_id))
    if page_token is not None:
        _, last_id = decode_page_token(page_token, _PAGE_KIND, int)
        query = query.where(label_schemas.c.id > last_id)
    rows = [row._mapping for row in
            conn.execute(query.order_by(label_schemas.c.id).limit(max_results + 1))]
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = encode_page_token(_PAGE_KIND, (0, rows[-1]["id"]))
    return PagedList([_to_schema(row) for row in rows], token)


def update_label_schema(conn: Connection, schema_id: str, *, name: str | None = None,
                        title: str | None = None, instruction: str | None = None,
                        enable_comment: bool | None = None,
                        input: LabelInput | None = None) -> LabelSchema:
    """Change the given fields (a sparse update) and return the schema as stored.

    The answers already given under the schema must stay valid: an input that would refuse
    some of them (an option removed that they hold, a limit lowered below them, another
    kind of input or ``multi_select`` changed while there are answers), or a new name
    while answers or sessions use the old one, is refused with an InvalidParameterError
    naming the field, the schema and how many answers. Adding options, widening limits,
    the title, the instruction and the comment box are always allowed.
    """
    current = get_label_schema(conn, schema_id=schema_id, lock=True)
    now_ms = int(time.time() * 1000)
    changed = current.updated(name=name, title=title, instruction=instruction,
                              enable_comment=enable_comment, input=input, updated_at=now_ms)
    if changed.name != current.name:
        key = int(current.experiment_id)
        if _row_by_name(conn, key, changed.name) is not None:
            raise _already_exists(changed.name, current.experiment_id)
    if changed.input != current.input or changed.name != current.name:
        values = _answer_values(conn, current)
        if changed.name != current.name:
            _check_rename(conn, current, values)
        conflicts = edit_conflicts(current, changed.input, values)
        if conflicts:
            raise edit_refused(current, conflicts)
    conn.execute(label_schemas.update().where(label_schemas.c.schema_id == schema_id).values(
        name=changed.name, title=changed.title, instruction=changed.instruction,
        enable_comment=changed.enable_comment, input=_json.dumps(input_to_dict(changed.input)),
        updated_time_ms=now_ms))
    return _get_by_key(conn, schema_id)


def delete_label_schema(conn: Connection, schema_id: str) -> LabelSchema:
    """Delete the schema with this id and return it (the assessments it collected stay)."""
    schema = get_label_schema(conn, schema_id=schema_id)
    conn.execute(label_schemas.delete().where(label_schemas.c.schema_id == schema_id))
    return schema


def _row_by_name(conn: Connection, experiment_key: int, name: str) -> RowMapping | None:
    row = conn.execute(sa.select(label_schemas).where(
        label_schemas.c.experiment_id == experiment_key, label_schemas.c.name == name)).first()
    return None if row is None else row._mapping


def _check_replacement(conn: Connection, current: LabelSchema, new: LabelSchema) -> None:
    """Refuse to replace a schema (``overwrite``) with one its answers do not fit."""
    if new.type == current.type and new.input == current.input:
        return
    values = _answer_values(conn, current)
    if new.type != current.type:
        total = sum(count for _, count in values)
        conflicts = ([EditConflict("type", total, f"they are {current.type.value}s, not "
                                                  f"{new.type.value}s")] if total else [])
    else:
        conflicts = edit_conflicts(current, new.input, values)
    if conflicts:
        raise edit_refused(current, conflicts)


def _answer_values(conn: Connection, schema: LabelSchema) -> list[tuple[Any, int]]:
    """The schema's answers in its experiment: each distinct value of the current (valid)
    assessments of its name and type, and of the sessions' adjudications, with how many
    hold it. Feedback that carries an error instead of a value is not an answer."""
    key = int(schema.experiment_id)
    a = assessments
    given = (sa.select(a.c.value, sa.func.count().label("n"))
             .where(a.c.experiment_id == key, a.c.name == schema.name,
                    a.c.valid == sa.true(), a.c.kind == schema.type.value,
                    a.c.value.is_not(None))
             .group_by(a.c.value))
    adj = labeling_adjudications
    settled = (sa.select(adj.c.value, sa.func.count().label("n"))
               .join(runs, runs.c.run_id == adj.c.run_id)
               .where(runs.c.experiment_id == key, adj.c.name == schema.name)
               .group_by(adj.c.value))
    counted: dict[str, int] = {}
    for query in (given, settled):
        for value, count in conn.execute(query):
            counted[value] = counted.get(value, 0) + int(count)
    return [(_json.loads(value), count) for value, count in counted.items()]


def _check_rename(conn: Connection, schema: LabelSchema, values: list[tuple[Any, int]]) -> None:
    """Refuse another name while answers are named after the schema or sessions ask it by
    name (they would lose it)."""
    uses: list[str] = []
    answered = sum(count for _, count in values)
    if answered:
        uses.append(f"{answered:,} answer{' is' if answered == 1 else 's are'} named "
                    f"{schema.name!r}")
    asking = [row.name for row in conn.execute(
        sa.select(runs.c.name, labeling_sessions.c.label_schemas)
        .join(runs, runs.c.run_id == labeling_sessions.c.run_id)
        .where(runs.c.experiment_id == int(schema.experiment_id)))
        if schema.name in _json.loads(row.label_schemas)]
    if asking:
        more = f" and {len(asking) - 3:,} more" if len(asking) > 3 else ""
        uses.append(f"labeling session{'' if len(asking) == 1 else 's'} "
                    f"{', '.join(repr(name) for name in asking[:3])}{more} "
                    f"ask{'s' if len(asking) == 1 else ''} it by name")
    if uses:
        raise InvalidParameterError(
            f"Invalid name: label schema {schema.name!r} cannot be renamed while its name is "
            f"in use: {'; '.join(uses)}. Keep the name (change the question's title "
            "instead), or create another schema")


def _get_by_key(conn: Connection, schema_id: str, *, lock: bool = False) -> LabelSchema:
    query = sa.select(label_schemas).where(label_schemas.c.schema_id == schema_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"Label schema with ID {schema_id!r} not found")
    return _to_schema(row._mapping)


def _to_schema(row: RowMapping) -> LabelSchema:
    return LabelSchema(
        name=row["name"],
        type=LabelSchemaType(row["type"]),
        input=input_from_dict(_json.loads(row["input"])),
        title=row["title"],
        instruction=row["instruction"],
        enable_comment=bool(row["enable_comment"]),
        schema_id=row["schema_id"],
        experiment_id=str(row["experiment_id"]),
        created_by=row["created_by"],
        created_at=row["created_time_ms"],
        updated_at=row["updated_time_ms"],
    )


def _already_exists(name: str, experiment_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"Label schema {name!r} already exists in experiment {experiment_id!r}; pass "
        "overwrite=True to replace it")
