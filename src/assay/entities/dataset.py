"""Evaluation datasets as stored: a dataset's identity, its versions, and its records.

A dataset (``d-`` and 32 hex digits, as MLflow writes them) holds records, each a set of
``inputs`` with optional ``outputs``, ``expectations``, ``tags`` and a ``source``. Records are
unique by their inputs: a record merged again with the same inputs updates the one there.
Every change (records merged, records deleted) makes a new version, numbered from 1 (a new
dataset is at version 0, empty); a version never changes afterwards, so an evaluation can
name the version it ran on and read it again later.

:func:`check_new_records` is the check both stores apply to records before writing them.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay import _json
from assay.entities._checks import MAX_ID_CHARS, check_key, check_text, check_value
from assay.errors import InvalidParameterError

__all__ = [
    "MAX_DATASET_NAME_CHARS",
    "MAX_DATASET_TAGS",
    "MAX_INPUTS_CHARS",
    "MAX_RECORDS_PER_CHANGE",
    "MAX_RECORD_CHARS",
    "DatasetInfo",
    "DatasetRecord",
    "NewRecord",
    "check_dataset_experiment_ids",
    "check_dataset_id",
    "check_dataset_name",
    "check_dataset_tags",
    "check_new_records",
    "check_record_ids",
    "check_version",
    "inputs_digest",
    "new_dataset_id",
    "new_record_id",
]

#: Longest dataset name.
MAX_DATASET_NAME_CHARS = 250
#: Most tags on a dataset or a record; longest tag value.
MAX_DATASET_TAGS = 100
MAX_TAG_VALUE_CHARS = 4096
#: Most records one merge or one delete takes.
MAX_RECORDS_PER_CHANGE = 10_000
#: Longest ``inputs`` of a record, as JSON; longest whole record (inputs, outputs,
#: expectations, tags and source), as JSON.
MAX_INPUTS_CHARS = 64 * 1024
MAX_RECORD_CHARS = 1024 * 1024

_DATASET_ID = re.compile(r"d-[0-9a-f]{32}")
_RECORD_ID = re.compile(r"dr-[0-9a-f]{32}")
_SOURCE_TYPES = frozenset({"TRACE", "HUMAN", "CODE", "DOCUMENT"})


def new_dataset_id() -> str:
    """A fresh dataset id: ``d-`` and 32 hex digits."""
    return "d-" + uuid.uuid4().hex


def new_record_id() -> str:
    """A fresh record id: ``dr-`` and 32 hex digits."""
    return "dr-" + uuid.uuid4().hex


def check_dataset_id(value: object, field_name: str = "dataset_id") -> str:
    """A dataset id (``d-`` and 32 lowercase hex digits)."""
    check_key(field_name, value)
    if not isinstance(value, str) or _DATASET_ID.fullmatch(value) is None:
        raise InvalidParameterError(
            f"Invalid {field_name} {str(value)[:100]!r}: expected 'd-' followed by 32 "
            "lowercase hex digits")
    return value


def check_dataset_name(value: object) -> str:
    """A dataset name: 1 to 250 characters, not starting or ending with spaces."""
    check_text("name", value, MAX_DATASET_NAME_CHARS)
    assert isinstance(value, str)
    if value != value.strip():
        raise InvalidParameterError(
            f"Invalid name {value!r}: it must not start or end with spaces")
    return value


def check_dataset_experiment_ids(value: object) -> list[str]:
    """The experiments of a new dataset: a non-empty list of at most 100 ids."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise InvalidParameterError(
            f"Invalid experiment_ids {str(value)[:100]!r}: expected a non-empty list of "
            "experiment ids")
    if len(value) > MAX_DATASET_TAGS:
        raise InvalidParameterError(
            f"Invalid experiment_ids: {len(value):,} ids; the limit is {MAX_DATASET_TAGS}")
    ids: list[str] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        check_text("experiment_ids item", item, 32)
        ids.append(str(item))
    return list(dict.fromkeys(ids))


def check_version(value: object) -> int | None:
    """A version number (a whole number from 0), or None for the latest."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidParameterError(
            f"Invalid version {value!r}: expected a whole number from 0 (or None for the "
            "latest)")
    return value


def check_dataset_tags(tags: object, field_name: str = "tags") -> dict[str, str]:
    """Tags: at most 100 pairs of a non-empty key (250 characters) and a string value
    (4096 characters)."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameterError(
            f"Invalid {field_name}: expected a dict of str to str, got {type(tags).__name__}")
    if len(tags) > MAX_DATASET_TAGS:
        raise InvalidParameterError(
            f"Invalid {field_name}: {len(tags):,} tags; the limit is {MAX_DATASET_TAGS}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        check_text(f"{field_name} key", key, MAX_ID_CHARS)
        check_text(f"{field_name}[{key!r}]", value, MAX_TAG_VALUE_CHARS, allow_empty=True)
        checked[key] = value
    return checked


def check_record_ids(record_ids: object) -> list[str]:
    """Record ids to delete: a list of at most 10,000 ``dr-`` ids, duplicates dropped."""
    if isinstance(record_ids, str) or not isinstance(record_ids, Sequence):
        raise InvalidParameterError(
            f"Invalid record_ids: expected a list of record ids, got "
            f"{type(record_ids).__name__}")
    if len(record_ids) > MAX_RECORDS_PER_CHANGE:
        raise InvalidParameterError(
            f"Invalid record_ids: {len(record_ids):,} ids; the limit is "
            f"{MAX_RECORDS_PER_CHANGE:,} a call")
    for record_id in record_ids:
        check_key("record_ids item", record_id)
        if not isinstance(record_id, str) or _RECORD_ID.fullmatch(record_id) is None:
            raise InvalidParameterError(
                f"Invalid record_ids item {str(record_id)[:100]!r}: expected 'dr-' followed "
                "by 32 lowercase hex digits")
    return list(dict.fromkeys(record_ids))


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """What identifies a record in its dataset: the sha256 (hex) of its inputs as JSON with
    sorted keys (MLflow's rule), so that ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` are
    one record."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset at one version: its id and name, the experiments it belongs to, its tags,
    and the version with its number of records."""

    dataset_id: str
    name: str
    experiment_ids: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    version: int = 0
    num_records: int = 0
    created_time: int = 0
    last_update_time: int = 0
    created_by: str | None = None
    last_updated_by: str | None = None

    def __hash__(self) -> int:
        return hash((self.dataset_id, self.version))

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "name": self.name,
            "experiment_ids": list(self.experiment_ids),
            "tags": dict(self.tags),
            "version": self.version,
            "num_records": self.num_records,
            "created_time": self.created_time,
            "last_update_time": self.last_update_time,
            "created_by": self.created_by,
            "last_updated_by": self.last_updated_by,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetInfo:
        return cls(dataset_id=d["dataset_id"], name=d["name"],
                   experiment_ids=tuple(str(e) for e in d.get("experiment_ids") or ()),
                   tags=dict(d.get("tags") or {}), version=int(d.get("version") or 0),
                   num_records=int(d.get("num_records") or 0),
                   created_time=int(d.get("created_time") or 0),
                   last_update_time=int(d.get("last_update_time") or 0),
                   created_by=d.get("created_by"), last_updated_by=d.get("last_updated_by"))


@dataclass(frozen=True)
class DatasetRecord:
    """One record of a dataset, as it is at the version read. ``record_id`` stays the same
    across versions while the record is updated (MLflow calls it ``dataset_record_id``)."""

    record_id: str
    dataset_id: str
    inputs: Mapping[str, Any]
    outputs: Any = None
    expectations: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, Any] | None = None
    created_time: int = 0
    last_update_time: int = 0
    created_by: str | None = None
    last_updated_by: str | None = None

    def __hash__(self) -> int:
        return hash((self.record_id, self.last_update_time))

    @property
    def dataset_record_id(self) -> str:
        """MLflow's name for :attr:`record_id`."""
        return self.record_id

    @property
    def source_type(self) -> str | None:
        return None if self.source is None else self.source.get("source_type")

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "dataset_id": self.dataset_id,
            "inputs": dict(self.inputs),
            "outputs": self.outputs,
            "expectations": dict(self.expectations),
            "tags": dict(self.tags),
            "source": None if self.source is None else dict(self.source),
            "created_time": self.created_time,
            "last_update_time": self.last_update_time,
            "created_by": self.created_by,
            "last_updated_by": self.last_updated_by,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetRecord:
        return cls(record_id=d["record_id"], dataset_id=d["dataset_id"],
                   inputs=dict(d["inputs"]), outputs=d.get("outputs"),
                   expectations=dict(d.get("expectations") or {}),
                   tags=dict(d.get("tags") or {}), source=d.get("source"),
                   created_time=int(d.get("created_time") or 0),
                   last_update_time=int(d.get("last_update_time") or 0),
                   created_by=d.get("created_by"), last_updated_by=d.get("last_updated_by"))


@dataclass(frozen=True)
class NewRecord:
    """A record to merge, checked: ``digest`` is :func:`inputs_digest` of its inputs."""

    inputs: Mapping[str, Any]
    digest: str
    outputs: Any = None
    expectations: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    source: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The form a merge request sends (the digest is computed again on arrival)."""
        return {"inputs": dict(self.inputs), "outputs": self.outputs,
                "expectations": dict(self.expectations), "tags": dict(self.tags),
                "source": None if self.source is None else dict(self.source)}


_RECORD_FIELDS = frozenset({"inputs", "outputs", "expectations", "tags", "source"})


def check_new_records(records: object) -> list[NewRecord]:
    """Records to merge, each a dict with ``inputs`` (a non-empty dict, at most 64 KiB as
    JSON) and optionally ``outputs`` (any JSON value), ``expectations`` (a dict), ``tags``
    (str to str) and ``source`` (``{"source_type": ..., "source_data": {...}}``); at most
    10,000 a call, each at most 1 MiB as JSON. Without a source, one is inferred as MLflow
    does: HUMAN when the record has expectations, else CODE.

    Raises InvalidParameterError naming the record (by its index) and the field.
    """
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
        raise InvalidParameterError(
            f"Invalid records: expected a list of dicts, got {type(records).__name__}")
    if len(records) > MAX_RECORDS_PER_CHANGE:
        raise InvalidParameterError(
            f"Invalid records: {len(records):,} records; the limit is "
            f"{MAX_RECORDS_PER_CHANGE:,} a call")
    return [_check_record(i, record) for i, record in enumerate(records)]


def _check_record(index: int, record: object) -> NewRecord:
    where = f"records[{index}]"
    if not isinstance(record, Mapping):
        raise InvalidParameterError(
            f"Invalid {where}: expected a dict with inputs, got {type(record).__name__}")
    unknown = set(record) - _RECORD_FIELDS
    if unknown:
        raise InvalidParameterError(
            f"Invalid {where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; a "
            "record has inputs, outputs, expectations, tags and source")
    inputs = record.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        raise InvalidParameterError(
            f"Invalid {where}.inputs: expected a non-empty dict, got "
            f"{type(inputs).__name__ if not isinstance(inputs, Mapping) else 'an empty dict'}")
    check_value(dict(inputs), f"{where}.inputs")
    inputs = _json.to_jsonable(dict(inputs))
    if len(_json.dumps(inputs)) > MAX_INPUTS_CHARS:
        raise InvalidParameterError(
            f"Invalid {where}.inputs: longer than {MAX_INPUTS_CHARS:,} characters as JSON")
    outputs = record.get("outputs")
    check_value(outputs, f"{where}.outputs")
    expectations = record.get("expectations")
    if expectations is None:
        expectations = {}
    if not isinstance(expectations, Mapping):
        raise InvalidParameterError(
            f"Invalid {where}.expectations: expected a dict of name to value, got "
            f"{type(expectations).__name__}")
    for name in expectations:
        check_text(f"{where}.expectations key", name, MAX_ID_CHARS)
    check_value(dict(expectations), f"{where}.expectations")
    tags = check_dataset_tags(record.get("tags"), f"{where}.tags")
    source = _check_source(where, record.get("source"), bool(expectations))
    checked = NewRecord(inputs=inputs, digest=inputs_digest(inputs), outputs=outputs,
                        expectations=dict(expectations), tags=tags, source=source)
    if len(_json.dumps(checked.to_dict())) > MAX_RECORD_CHARS:
        raise InvalidParameterError(
            f"Invalid {where}: longer than {MAX_RECORD_CHARS:,} characters as JSON")
    return checked


def _check_source(where: str, source: object, has_expectations: bool) -> dict[str, Any]:
    if source is None:
        return {"source_type": "HUMAN" if has_expectations else "CODE", "source_data": {}}
    if not isinstance(source, Mapping):
        raise InvalidParameterError(
            f"Invalid {where}.source: expected a dict with source_type and source_data, got "
            f"{type(source).__name__}")
    unknown = set(source) - {"source_type", "source_data"}
    if unknown:
        raise InvalidParameterError(
            f"Invalid {where}.source: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    source_type = source.get("source_type")
    if not isinstance(source_type, str) or source_type.upper() not in _SOURCE_TYPES:
        raise InvalidParameterError(
            f"Invalid {where}.source.source_type {str(source_type)[:50]!r}: expected one of "
            f"{', '.join(sorted(_SOURCE_TYPES))}")
    data = source.get("source_data") or {}
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"Invalid {where}.source.source_data: expected a dict")
    check_value(dict(data), f"{where}.source.source_data")
    return {"source_type": source_type.upper(), "source_data": dict(data)}
