"""The runs filter language (MLflow's ``search_runs`` grammar): what it reads, and where
its errors point."""

from __future__ import annotations

import pytest

from assay.search import FilterError, Op
from assay.search.runs import (
    RunClause,
    RunField,
    RunOrderKey,
    parse_run_filter,
    parse_run_order_by,
    with_run_tie_breakers,
)


def test_entities_and_aliases_resolve_to_one_field() -> None:
    clauses = parse_run_filter(
        "metric.a > 1 AND params.p = 'x' AND parameter.p = 'y' AND tag.t = 'z' "
        "AND run.name = 'n' AND run_name = 'n' AND tags.`mlflow.runName` = 'n' "
        "AND attr.Created >= 5 AND tags.`mlflow.user` = 'ana'")
    assert [c.field for c in clauses] == [
        RunField("metric", "a"), RunField("param", "p"), RunField("param", "p"),
        RunField("tag", "t"), *[RunField("attribute", "run_name")] * 3,
        RunField("attribute", "start_time"), RunField("attribute", "user_id")]
    assert clauses[0] == RunClause(RunField("metric", "a"), Op.GT, 1)


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("params.a = 'x' OR params.b = 'y'", 15, "OR"),
    ("params.a = 'x' AND metrics.b > 'y'", 31, "'y'"),
    ("params.a = 'x' AND  bogus.k = 'y'", 20, "bogus"),
    ("metrics.a >= 1 AND attributes.status = 'done'", 39, "'done'"),
    ("metrics.a LIKE '1'", 10, "LIKE"),
])
def test_errors_point_at_the_part_at_fault(text: str, position: int, fragment: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_run_filter(text)
    assert (caught.value.position, caught.value.fragment) == (position, fragment)
    assert text[position:].startswith(fragment)


def test_order_by_ends_in_the_tie_breakers() -> None:
    keys = parse_run_order_by(["metrics.accuracy DESC", "start_time"])
    assert with_run_tie_breakers(keys) == [
        RunOrderKey(RunField("metric", "accuracy"), ascending=False),
        RunOrderKey(RunField("attribute", "start_time"), ascending=True),
        RunOrderKey(RunField("attribute", "run_id"), ascending=True)]
    assert parse_run_order_by(None) == [] and parse_run_filter("  ") == ()
    with pytest.raises(FilterError, match="list of strings"):
        parse_run_order_by("start_time")
