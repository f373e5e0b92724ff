"""The server-drawn SVG charts: valid SVG, accessible, and showing the values they are given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from assay.server.ui import charts
from assay.server.ui.charts import Bar, Column, Point, Series, TimeAxis

SVG = "{http://www.w3.org/2000/svg}"
DAY_MS = 86_400_000
START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z, a Wednesday


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def titles(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}title")]


def check_accessible(root: ET.Element, title: str) -> None:
    """role=img, named by its own <title> and described by its own <desc>."""
    assert root.get("role") == "img"
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    name = by_id[root.get("aria-labelledby")]
    assert name.tag == f"{SVG}title" and name.text == title
    summary = by_id[root.get("aria-describedby")]
    assert summary.tag == f"{SVG}desc" and summary.text


def test_line_chart_draws_each_series_with_its_band_and_a_gap_for_missing_buckets() -> None:
    axis = TimeAxis(START_MS, DAY_MS, 5)
    rate = Series("Positive", [
        Point(START_MS, 0.5, 0.3, 0.7, note="5 of 10"),
        Point(START_MS + DAY_MS, 0.75, 0.5, 0.9),
        Point(START_MS + 2 * DAY_MS, None),  # no feedback that day: a gap
        Point(START_MS + 3 * DAY_MS, 0.25, 0.1, 0.5),
        Point(START_MS + 4 * DAY_MS, 1.0, 0.8, 1.0),
    ], tone="good")
    feedback = Series("Feedback rate", [Point(START_MS + i * DAY_MS, 0.1 * i)
                                        for i in range(5)], band=False)
    root = parse(charts.line_chart([rate, feedback], axis, title="Rates", unit="percent"))
    check_accessible(root, "Rates")
    # The positive rate is two runs (before and after the gap), each a line and a band;
    # the feedback rate is one line without a band.
    lines = [p for p in root.iter(f"{SVG}path") if p.get("class") == "chart-line"]
    bands = [p for p in root.iter(f"{SVG}polygon") if p.get("class") == "chart-band"]
    assert len(lines) == 3
    assert len(bands) == 2
    assert len(list(root.iter(f"{SVG}circle"))) == 4 + 5
    # The axis is 0-100%, each day is labelled, and hovering a day tells its values.
    assert {"0%", "50%", "100%"} <= set(texts(root))
    assert "Jan 01" in texts(root) and "Jan 05" in texts(root)
    day_one = next(t for t in titles(root) if t.startswith("2025 Jan 01"))
    assert "Positive: 50% (95% interval 30%\u201370%), 5 of 10" in day_one
    assert "Feedback rate: 0%" in day_one
    day_three = next(t for t in titles(root) if t.startswith("2025 Jan 03"))
    assert "Positive: no data" in day_three


def test_line_chart_of_one_bucket_still_shows_its_point_and_band() -> None:
    axis = TimeAxis(START_MS, 3_600_000, 1)
    root = parse(charts.line_chart([Series("Rate", [Point(START_MS, 0.4, 0.2, 0.6)])], axis,
                                   title="One hour", unit="percent"))
    assert len(list(root.iter(f"{SVG}circle"))) == 1
    assert len([p for p in root.iter(f"{SVG}polygon") if p.get("class") == "chart-band"]) == 1
    assert "Jan 01 00:00" in texts(root)


def test_column_chart_has_a_column_per_bucket_with_totals_in_tooltips() -> None:
    axis = TimeAxis(START_MS, DAY_MS, 3)
    columns = [Column(START_MS, 12, 9), Column(START_MS + 2 * DAY_MS, 1234, 0)]
    root = parse(charts.column_chart(columns, axis, title="Traces per day",
                                     total_name="Traces", part_name="With feedback"))
    check_accessible(root, "Traces per day")
    tips = titles(root)
    assert any("Traces: 12" in t and "With feedback: 9 (75%)" in t for t in tips)
    assert any("Traces: 1,234" in t for t in tips)
    # The y axis reaches past the largest column in round steps.
    labels = texts(root)
    assert "0" in labels and any(label.replace(",", "").isdigit()
                                 and int(label.replace(",", "")) >= 1234 for label in labels)
    assert "1,246 traces in 3 buckets" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_bar_list_writes_labels_values_intervals_and_links() -> None:
    bars = [Bar("user-a", 0.75, 0.5, 0.9, note="n = 20", href="/experiments/1?user=user-a"),
            Bar("<script>", 0.2), Bar("", None)]
    root = parse(charts.bar_list(bars, title="Positive by user", unit="percent"))
    check_accessible(root, "Positive by user")
    labels = texts(root)
    assert "user-a" in labels and "<script>" in labels and "(none)" in labels
    assert "75% n = 20" in labels and "20%" in labels
    whiskers = [p for p in root.iter(f"{SVG}path") if p.get("class") == "chart-whisker"]
    assert len(whiskers) == 1
    links = list(root.iter(f"{SVG}a"))
    assert [a.get("href") for a in links] == ["/experiments/1?user=user-a"]
    assert any("95% interval 50%\u201390%" in t for t in titles(root))


def test_bar_list_scales_counts_to_the_largest_and_says_when_empty() -> None:
    root = parse(charts.bar_list([Bar("a", 10), Bar("b", 5)], title="Counts", unit="count"))
    widths = [float(r.get("width") or 0) for r in root.iter(f"{SVG}rect")
              if r.get("fill-opacity") == "0.85"]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert "10" in texts(root) and "5" in texts(root)
    empty = parse(charts.bar_list([], title="Nothing", unit="count"))
    assert "No values" in texts(empty)


def test_rating_distribution_counts_each_value_and_labels_what_fits() -> None:
    counts = [("1", 2), ("2", 0), ("3", 5), ("4", 9), ("5", 4)]
    root = parse(charts.rating_distribution(counts, title="Distribution of accuracy"))
    check_accessible(root, "Distribution of accuracy")
    labels = texts(root)
    for value, count in counts:
        assert value in labels and str(count) in labels
    assert "4: 9 (45%)" in titles(root)
    # Ten fractional bins do not all fit: the first, middle and last are labelled.
    many = [(f"0.{i}{i}", i) for i in range(10)]
    labelled = texts(parse(charts.rating_distribution(many, title="Scores")))
    assert "0.00" in labelled and "0.99" in labelled and "0.44" not in labelled


def test_titles_and_labels_are_escaped() -> None:
    markup = charts.line_chart([Series("a & <b>", [Point(START_MS, 1.0)])],
                               TimeAxis(START_MS, DAY_MS, 1), title="x < y & z",
                               unit="number")
    root = parse(markup)  # would not parse if anything were left unescaped
    assert root.find(f"{SVG}title").text == "x < y & z"  # type: ignore[union-attr]
    assert "a & <b>" in texts(root)


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.724, "percent", "72%"), (0.05, "percent", "5.0%"), (0.0, "percent", "0%"),
    (1204, "count", "1,204"), (3.4567, "number", "3.46"), (4.0, "number", "4"),
    (None, "number", "\u2013"),
])
def test_format_value(value: float | None, unit: charts.Unit, text: str) -> None:
    assert charts.format_value(value, unit) == text


def test_nice_ticks_reach_the_top_in_round_steps() -> None:
    assert charts.nice_ticks(0.3, "percent") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert charts.nice_ticks(0, "count") == [0.0, 1.0]
    assert charts.nice_ticks(3, "count") == [0.0, 1.0, 2.0, 3.0]
    ticks = charts.nice_ticks(1234, "count")
    assert ticks[0] == 0 and ticks[-1] >= 1234 and len(ticks) <= 6
    assert charts.nice_ticks(4.6, "number")[-1] >= 4.6
