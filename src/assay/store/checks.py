"""The argument checks every store applies alike, and the limits they check against.

Both stores run these before anything else (the SQL store before it opens a transaction,
the REST store before it sends a request), so a bad argument gets the same
:class:`~assay.errors.InvalidParameterError` from either, without a round trip. This module
imports no backend: the REST store uses it without loading SQLAlchemy.
(What a batch of traces must hold is checked by :mod:`assay.store.trace_rows`.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

from assay.entities._checks import MAX_METADATA_KEY_CHARS, check_key, check_text
from assay.entities.analytics import TimeBucket
from assay.entities.run import RunStatus
from assay.errors import InvalidParameterError

__all__ = [
    "MAX_EXPERIMENT_NAME_CHARS",
    "MAX_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "MAX_TRACE_COUNT",
    "MAX_TRACE_OFFSET",
    "RECENT_TRACES_SCANNED",
    "RunUpdate",
    "check_answer_comments",
    "check_delete_arguments",
    "check_experiment_name",
    "check_experiment_tags",
    "check_feedback_names",
    "check_max_count",
    "check_max_results",
    "check_run_pairs",
    "check_run_update",
    "check_tag_key",
    "check_time_bucket",
    "check_trace_offset",
    "experiment_keys",
    "is_bigint",
    "parse_experiment_id",
    "truncate_tag_value",
]

#: Longest tag key, and longest value kept in an indexed projection column (session, user,
#: run, client request id).
MAX_KEY_CHARS = 250
#: Longest experiment name.
MAX_EXPERIMENT_NAME_CHARS = 500
#: Longer tag values are cut to this length, ending in "..." (MLflow's limit).
MAX_TAG_VALUE_CHARS = 4096

_ELLIPSIS = "..."
_BIGINT_LIMIT = 2**63
# Ids are decimal integers in the API; anything else names no experiment. The bound keeps the
# value inside a 64-bit column, where PostgreSQL would otherwise reject the query itself.
_EXPERIMENT_ID = re.compile(r"[0-9]{1,18}")
_TIME_BUCKETS = frozenset(get_args(TimeBucket))


# -- experiments ----------------------------------------------------------------------------

def parse_experiment_id(experiment_id: object) -> int | None:
    """The integer key of an experiment id such as ``"12"``; None if it cannot be one."""
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if isinstance(experiment_id, str) and _EXPERIMENT_ID.fullmatch(experiment_id):
        return int(experiment_id)
    return None


def experiment_keys(experiment_ids: Sequence[str]) -> list[int]:
    """The integer keys of experiment ids; ids that cannot name an experiment are dropped.

    Raises:
        InvalidParameterError: not a non-empty list of ids.
    """
    if isinstance(experiment_ids, str) or not experiment_ids:
        raise InvalidParameterError(
            f"Invalid experiment_ids {experiment_ids!r}: expected a non-empty list of ids")
    return sorted({key for key in map(parse_experiment_id, experiment_ids) if key is not None})


def check_experiment_name(name: object) -> None:
    """InvalidParameterError unless ``name`` can name an experiment."""
    if not isinstance(name, str):
        raise InvalidParameterError(
            f"Invalid experiment name {name!r}: expected a string, got {type(name).__name__}")
    if not name.strip():
        raise InvalidParameterError("Invalid experiment name '': it must not be empty")
    if len(name) > MAX_EXPERIMENT_NAME_CHARS:
        raise InvalidParameterError(
            f"Invalid experiment name {name[:50] + '…'!r}: it is {len(name)} characters "
            f"long; the limit is {MAX_EXPERIMENT_NAME_CHARS}")
    check_key("experiment name", name)


def check_experiment_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """The tags of a new experiment as a dict (empty for None); InvalidParameterError
    naming the first one that is not a string key and value."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameterError(
            f"Invalid experiment tags: expected a mapping of str to str, got "
            f"{type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameterError(
                f"Invalid experiment tag {key!r}: keys and values must be strings, got "
                f"{type(key).__name__} and {type(value).__name__}")
        check_key(f"experiment tag key {key[:50]!r}", key)
    # Values are kept whole: the tags are stored as JSON, where a NUL is an escape.
    return dict(tags)


# -- paging ---------------------------------------------------------------------------------

def check_max_results(max_results: object) -> None:
    """InvalidParameterError unless ``max_results`` is a positive int (a page size)."""
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidParameterError(
            f"Invalid max_results {max_results!r}: expected a positive integer")


# -- traces and their tags ------------------------------------------------------------------

def check_tag_key(key: object, trace_id: str) -> str:
    """The key if it can be a tag key; InvalidParameterError naming it otherwise."""
    if not isinstance(key, str):
        raise InvalidParameterError(
            f"Invalid tag key {key!r} on trace {trace_id!r}: expected a string, got "
            f"{type(key).__name__}")
    if not key:
        raise InvalidParameterError(
            f"Invalid tag key '' on trace {trace_id!r}: it must not be empty")
    if len(key) > MAX_KEY_CHARS:
        raise InvalidParameterError(
            f"Invalid tag key {key[:50] + '...'!r} on trace {trace_id!r}: it is {len(key)} "
            f"characters long; the limit is {MAX_KEY_CHARS}")
    check_key(f"tag key {key[:50]!r} on trace {trace_id!r}", key)
    return key


def truncate_tag_value(value: str) -> str:
    """The value, cut to :data:`MAX_TAG_VALUE_CHARS` characters ending in "..." if longer
    (how a tag value is stored)."""
    if len(value) <= MAX_TAG_VALUE_CHARS:
        return value
    return value[:MAX_TAG_VALUE_CHARS - len(_ELLIPSIS)] + _ELLIPSIS


def is_bigint(value: object) -> bool:
    """Whether ``value`` is an int that fits a 64-bit integer (and not a bool)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and -_BIGINT_LIMIT <= value < _BIGINT_LIMIT)


def check_delete_arguments(max_timestamp_millis: int | None, max_traces: int | None,
                           trace_ids: Sequence[str] | None) -> None:
    """MLflow's rules for delete_traces' arguments (InvalidParameterError otherwise)."""
    if isinstance(trace_ids, str):
        raise InvalidParameterError(
            f"Invalid trace_ids {trace_ids!r}: expected a list of trace ids, not one string")
    if max_timestamp_millis is None and not trace_ids:
        raise InvalidParameterError(
            "Either `max_timestamp_millis` or `trace_ids` must be specified.")
    if max_timestamp_millis is not None and trace_ids:
        raise InvalidParameterError(
            "Only one of `max_timestamp_millis` and `trace_ids` can be specified.")
    if trace_ids and max_traces is not None:
        raise InvalidParameterError(
            "`max_traces` can't be specified if `trace_ids` is specified.")
    if max_traces is not None and (not is_bigint(max_traces) or max_traces <= 0):
        raise InvalidParameterError(
            f"`max_traces` must be a positive integer, received {max_traces!r}.")
    if max_timestamp_millis is not None and not is_bigint(max_timestamp_millis):
        raise InvalidParameterError(
            f"`max_timestamp_millis` must be an integer, received {max_timestamp_millis!r}.")


# -- feedback analytics ---------------------------------------------------------------------

def check_feedback_names(names: Sequence[str] | None) -> list[str] | None:
    """The feedback names to summarize, sorted and without repeats (None: every name);
    InvalidParameterError for anything but a list of non-empty names."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise InvalidParameterError(
            f"Invalid names {names!r}: expected a list of feedback names, e.g. "
            "['user_feedback']")
    for name in names:
        check_key("names[]", name)
    return sorted(set(names))


def check_time_bucket(time_bucket: str | None) -> TimeBucket | None:
    """The time bucket (None: none); InvalidParameterError for one that is not
    ``hour``, ``day`` or ``week``."""
    if time_bucket is None:
        return None
    if time_bucket not in _TIME_BUCKETS:
        raise InvalidParameterError(
            f"Invalid time_bucket {time_bucket!r}: expected one of "
            f"{', '.join(get_args(TimeBucket))}")
    return cast(TimeBucket, time_bucket)


def check_run_pairs(field: str, pairs: Mapping[str, Any],
                    kind: type[str] | type[float]) -> dict[str, Any]:
    """A run's metrics (``kind`` float: finite numbers) or params and tags (str), checked."""
    if not isinstance(pairs, Mapping):
        raise InvalidParameterError(
            f"Invalid {field}: expected a dict, got {type(pairs).__name__}")
    checked: dict[str, Any] = {}
    for key, value in pairs.items():
        check_text(f"{field} key", key, MAX_METADATA_KEY_CHARS)
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise InvalidParameterError(
                    f"Invalid {field}[{key!r}] {value!r}: expected a finite number")
            checked[key] = float(value)
        else:
            if not isinstance(value, str):
                raise InvalidParameterError(
                    f"Invalid {field}[{key!r}]: expected a str, got {type(value).__name__}")
            check_key(f"{field}[{key!r}]", value)
            checked[key] = value
    return checked


@dataclass(frozen=True)
class RunUpdate:
    """The checked arguments of ``update_run``."""

    status: RunStatus | None
    end_time: int | None
    metrics: dict[str, Any] | None
    params: dict[str, Any] | None
    tags: dict[str, Any] | None


def check_run_update(status: object, end_time: object, metrics: Mapping[str, Any] | None,
                     params: Mapping[str, Any] | None,
                     tags: Mapping[str, Any] | None) -> RunUpdate:
    """``update_run``'s arguments, checked as every store checks them."""
    if end_time is not None and (isinstance(end_time, bool) or not isinstance(end_time, int)
                                 or not 0 <= end_time <= 2**53 - 1):
        raise InvalidParameterError(f"Invalid end_time {end_time!r}: expected milliseconds "
                                    "since the epoch")
    return RunUpdate(
        status=None if status is None else RunStatus.parse(status),
        end_time=end_time,
        metrics=None if metrics is None else check_run_pairs("metrics", metrics, float),
        params=None if params is None else check_run_pairs("params", params, str),
        tags=None if tags is None else check_run_pairs("tags", tags, str))
# -- counts, page jumps and recent values of the traces page ----------------------------------

#: The most traces a count counts: beyond, a search only says "more than this".
MAX_TRACE_COUNT = 100_000
#: The furthest a page jump reaches into a search (rows skipped to find where a page starts).
MAX_TRACE_OFFSET = 10_000
#: The newest traces of an experiment whose user and session ids are offered as suggestions.
RECENT_TRACES_SCANNED = 1_000


def check_max_count(max_count: object) -> int:
    """``max_count`` if it is an int from 1 to MAX_TRACE_COUNT; InvalidParameterError naming
    it otherwise."""
    if not isinstance(max_count, int) or isinstance(max_count, bool) \
            or not 1 <= max_count <= MAX_TRACE_COUNT:
        raise InvalidParameterError(
            f"Invalid max_count {max_count!r}: expected an integer from 1 to "
            f"{MAX_TRACE_COUNT:,}")
    return max_count


def check_trace_offset(offset: object) -> int:
    """``offset`` if it is an int from 1 to MAX_TRACE_OFFSET; InvalidParameterError naming it
    otherwise."""
    if not isinstance(offset, int) or isinstance(offset, bool) \
            or not 1 <= offset <= MAX_TRACE_OFFSET:
        raise InvalidParameterError(
            f"Invalid offset {offset!r}: expected an integer from 1 to {MAX_TRACE_OFFSET:,} "
            "(further pages are reached with page tokens)")
    return offset



def check_answer_comments(answers: Mapping[str, Any], comment: object,
                          comments: object) -> dict[str, str | None]:
    """Each answer's rationale when a reviewer submits ``answers``: its own entry of
    ``comments`` ({schema name: comment}), else ``comment`` (one comment for every answer,
    as before per-question comments); an empty comment is none.

    Raises:
        InvalidParameterError: a comment that is not a str, or ``comments`` naming a
            question that is not answered.
    """
    if comment is not None and not isinstance(comment, str):
        raise InvalidParameterError(
            f"Invalid comment: expected a str, got {type(comment).__name__}")
    if comments is None:
        comments = {}
    if not isinstance(comments, Mapping):
        raise InvalidParameterError(
            "Invalid comments: expected a dict of label schema name to comment, got "
            f"{type(comments).__name__}")
    for name, text in comments.items():
        if not isinstance(name, str) or name not in answers:
            shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
            raise InvalidParameterError(
                f"Invalid comments: {shown} is not one of the questions answered "
                f"({', '.join(repr(n) for n in list(answers)[:10]) or 'none'})")
        if text is not None and not isinstance(text, str):
            raise InvalidParameterError(
                f"Invalid comments[{name!r}]: expected a str, got {type(text).__name__}")
    return {name: (comments.get(name) if name in comments else comment) or None
            for name in answers}
