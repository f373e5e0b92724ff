"""Scores and labels read the same way by the comparison of runs and the judge's agreement
with humans: pass/fail in its spellings, numbers, a row's inputs as a digest, and every
trace of a search."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from assay.entities import Trace
from assay.store.base import Store

__all__ = ["all_traces", "as_number", "as_pass_fail", "digest", "label"]

#: Traces read per store call.
_PAGE = 1000

_PASS = frozenset({"yes", "true", "pass"})
_FAIL = frozenset({"no", "false", "fail"})


def as_pass_fail(value: Any) -> bool | None:
    """True for pass (True, "yes", "true", "pass", any case), False for fail (False, "no",
    "false", "fail"), None for anything else (numbers included)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _PASS:
            return True
        if text in _FAIL:
            return False
    return None


def as_number(value: Any) -> float | None:
    """A score as a number: a finite int or float, pass/fail as 1/0; else None."""
    verdict = as_pass_fail(value)
    if verdict is not None:
        return 1.0 if verdict else 0.0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def label(value: Any) -> Any:
    """A value as a hashable category: as it is, or its JSON text (lists, dicts)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def digest(inputs: Any) -> str:
    """sha256 of the sorted-key JSON of a row's inputs (how MLflow's datasets tell rows
    apart)."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def all_traces(store: Store, experiment_ids: Sequence[str], *,
               filter_string: str | None = None, run_id: str | None = None) -> list[Trace]:
    """Every trace of the search, with its spans and assessments, oldest first."""
    found: list[Trace] = []
    token: str | None = None
    while True:
        page = store.search_traces(list(experiment_ids), max_results=_PAGE,
                                   page_token=token, filter_string=filter_string,
                                   order_by=["timestamp_ms ASC"], run_id=run_id)
        found.extend(page)
        token = page.token
        if token is None:
            return found
