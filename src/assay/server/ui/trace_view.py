"""The state of a traces table, all of it in the URL: the filter, the quick filters, the
time range, the sort, the visible columns, the page size and the page cursor.

:func:`parse_view` reads it from the query string; :meth:`TraceView.url` writes it back
with some parts changed (a sort link, the next page), leaving out what is at its default so
that shared links stay short.

Query parameters:

=============  ===============================================================
``filter``     a filter in the search language (``feedback.rating < 3``)
``user``       only this user's traces
``session``    only this session's traces
``feedback``   ``any`` (has feedback), ``none``, ``down`` (a thumbs down), ``up``
``on``         the feedback name ``down`` and ``up`` look at (default: ``user_feedback``
               when the experiment has it, else its first feedback name)
``range``      ``24h``, ``7d``, ``30d``, ``all``; or ``from``/``to`` (UTC dates)
``sort``       a column key (``time``, ``duration``, ``feedback:<name>``, …)
``dir``        ``asc`` or ``desc``
``col``        a visible column (repeated); with ``cols=1`` the list is exact
``n``          rows per page (10 to 200)
``page``       the cursor of the page, from the previous page's "Next" link
``p``          the page's number (1 is the first): alone, a jump to that page (within
               the first 10,000 traces); beside ``page``, what the pager shows
=============  ===============================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote, urlencode

from assay.entities.overview import AssessmentName
from assay.search import (
    AssessmentField,
    Comparison,
    Expr,
    Not,
    Op,
    Or,
    TraceField,
    to_filter_string,
)
from assay.search.unparse import quote_name

__all__ = [
    "BASE_COLUMNS",
    "DEFAULT_PAGE_SIZE",
    "FEEDBACK_FILTERS",
    "PAGE_SIZES",
    "Column",
    "TraceView",
    "assessment_column_key",
    "assessment_columns",
    "check_sort",
    "parse_view",
    "thumbs_name",
]

DEFAULT_PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 200)
_MIN_PAGE, _MAX_PAGE = 10, 200
#: The highest page number a URL may name (deeper pages are reached with Next, and counted).
MAX_PAGE_NUMBER = 10**8
_MAX_TEXT = 4000

#: The quick feedback filters and what they say.
FEEDBACK_FILTERS: dict[str, str] = {
    "": "All traces",
    "any": "With feedback",
    "none": "Without feedback",
    "down": "Thumbs down",
    "up": "Thumbs up",
}
#: The feedback name the thumbs filters look at when the URL names none and it exists: the
#: end users' vote in MLflow's guides.
DEFAULT_THUMBS_NAME = "user_feedback"


def thumbs_name(chosen: str, feedback_names: Sequence[str]) -> str | None:
    """The one feedback name "Thumbs down" and "Thumbs up" look at: ``chosen`` if the
    experiment has it, else ``user_feedback``, else the first name (None without names)."""
    for name in (chosen, DEFAULT_THUMBS_NAME):
        if name and name in feedback_names:
            return name
    return feedback_names[0] if feedback_names else None


@dataclass(frozen=True)
class Column:
    """A column of the traces table.

    Attributes:
        key: its name in the URL (``time``, ``feedback:correctness``).
        label: its header.
        sort_field: the ``order_by`` field it sorts by (None: not sortable).
        group: ``trace``, ``feedback`` or ``expectation`` (the header's colour).
        default: whether it is shown when the URL does not pick columns.
        numeric: right-aligned.
    """

    key: str
    label: str
    sort_field: str | None
    group: Literal["trace", "feedback", "expectation"] = "trace"
    default: bool = True
    numeric: bool = False


BASE_COLUMNS: tuple[Column, ...] = (
    Column("request", "Request", None),
    Column("response", "Response", None),
    # Every valid feedback of the trace as compact chips, near the left where the eye is;
    # one column per name stays available in the column picker.
    Column("scores", "Scores", None),
    Column("session", "Session", "session_id"),
    Column("user", "User", "user_id"),
    Column("name", "Name", "name", default=False),
    Column("time", "Time", "timestamp_ms"),
    Column("duration", "Duration", "execution_time_ms", numeric=True),
    Column("state", "State", "status"),
    Column("tokens", "Tokens", None, numeric=True),
    Column("tags", "Tags", None, default=False),
)
#: The trace id column is always shown; it sorts by id.
TRACE_ID_SORT = "trace_id"


def assessment_column_key(name: AssessmentName) -> str:
    """The column key of an assessment name: ``feedback:<name>`` or ``expectation:<name>``."""
    return f"{name.kind}:{name.name}"


def assessment_columns(names: Sequence[AssessmentName]) -> list[Column]:
    """One column per assessment name: feedback first, then expectations, by name; shown
    when picked (the Scores column holds every feedback by default).

    Feedback sorts by its numeric value (booleans as 0 and 1); expectations do not sort.
    """
    ordered = sorted(names, key=lambda n: (n.kind != "feedback", n.name.lower(), n.name))
    return [Column(assessment_column_key(n), n.name,
                   f"feedback.{quote_name(n.name)}" if n.kind == "feedback" else None,
                   group=n.kind, default=False)
            for n in ordered]


@dataclass(frozen=True)
class TraceView:
    """What the traces table shows (see the module docstring for the parameters)."""

    experiment_id: str
    filter: str = ""
    user: str = ""
    session: str = ""
    feedback: str = ""
    thumbs: str = ""
    range: str = ""
    start: str = ""
    end: str = ""
    sort: str = "time"
    descending: bool = True
    columns: tuple[str, ...] | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    page: str = ""
    #: The page's number (1 is the first; 0: not known, a cursor without ``p``).
    number: int = 0
    errors: tuple[str, ...] = field(default=(), compare=False)

    # -- the query ---------------------------------------------------------------------
    def quick_filter(self, feedback_names: Sequence[str],
                     range_clause: str | None) -> str | None:
        """The quick filters (user, session, feedback, time range) as one filter string.

        ``feedback_names`` are the experiment's feedback names, which "has feedback" looks
        at (the thumbs filters look at one of them: :func:`thumbs_name`); ``range_clause``
        is the time range's clause.
        """
        parts: list[Expr] = []
        if self.user:
            parts.append(Comparison(TraceField("user_id"), Op.EQ, self.user))
        if self.session:
            parts.append(Comparison(TraceField("session_id"), Op.EQ, self.session))
        feedback = _feedback_clause(self.feedback, feedback_names, self.thumbs)
        texts = [to_filter_string(p) for p in parts]
        if feedback is not None:
            texts.append(f"({feedback})" if " OR " in feedback else feedback)
        if range_clause:
            texts.append(range_clause)
        return " AND ".join(texts) or None

    def matches_nothing(self, feedback_names: Sequence[str]) -> bool:
        """Whether the view asks for feedback an experiment without any cannot have."""
        return self.feedback in ("any", "down", "up") and not feedback_names

    def order_by(self, columns: Mapping[str, Column]) -> list[str]:
        """The ``order_by`` of the sort column (the store adds its tie-breakers)."""
        column = columns.get(self.sort)
        sort_field = TRACE_ID_SORT if self.sort == "trace" else (
            column.sort_field if column else None)
        if sort_field is None:
            return []
        return [f"{sort_field} {'DESC' if self.descending else 'ASC'}"]

    # -- the URL -----------------------------------------------------------------------
    def params(self) -> list[tuple[str, str]]:
        """The query parameters of this view, defaults left out."""
        pairs: list[tuple[str, str]] = []
        thumbs = self.thumbs if self.feedback in ("down", "up") else ""
        for name, value in (("filter", self.filter), ("user", self.user),
                            ("session", self.session), ("feedback", self.feedback),
                            ("on", thumbs), ("range", self.range), ("from", self.start),
                            ("to", self.end)):
            if value:
                pairs.append((name, value))
        if (self.sort, self.descending) != ("time", True):
            pairs += [("sort", self.sort), ("dir", "desc" if self.descending else "asc")]
        if self.columns is not None:
            pairs.append(("cols", "1"))
            pairs += [("col", c) for c in self.columns]
        if self.page_size != DEFAULT_PAGE_SIZE:
            pairs.append(("n", str(self.page_size)))
        if self.number > 1:
            pairs.append(("p", str(self.number)))
        if self.page:
            pairs.append(("page", self.page))
        return pairs

    def url(self, **changes: Any) -> str:
        """The URL of this view with ``changes`` (field names of this class); a change of
        anything but the page (``page`` and ``number``) goes back to the first page, and a
        ``number`` without a ``page`` is a jump to that page."""
        view = replace(self, **changes)
        if "page" not in changes:
            view = replace(view, page="")
            if "number" not in changes:
                view = replace(view, number=0)
        query = urlencode(view.params())
        path = f"/experiments/{quote(self.experiment_id, safe='')}"
        return f"{path}?{query}" if query else path

    def sort_url(self, key: str) -> str:
        """The URL sorting by column ``key``: descending first for times, durations and
        feedback, ascending for text; again on the sorted column flips the direction."""
        if key == self.sort:
            return self.url(descending=not self.descending)
        first_desc = key in ("time", "duration") or key.startswith("feedback:")
        return self.url(sort=key, descending=first_desc)


def _feedback_clause(kind: str, names: Sequence[str], thumbs: str) -> str | None:
    if not kind:
        return None
    if not names:
        return None  # see TraceView.matches_nothing
    if kind in ("any", "none"):
        fields = [AssessmentField("feedback", n) for n in names]
        anything: Expr = _or([Comparison(f, Op.IS_NOT_NULL, None) for f in fields])
        return to_filter_string(anything if kind == "any" else Not(anything))
    name = thumbs_name(thumbs, names)
    assert name is not None
    value = "false" if kind == "down" else "true"
    return to_filter_string(Comparison(AssessmentField("feedback", name), Op.EQ, value))


def _or(items: list[Expr]) -> Expr:
    return items[0] if len(items) == 1 else Or(tuple(items))


def parse_view(experiment_id: str, query: Mapping[str, str],
               columns: Sequence[str]) -> TraceView:
    """The view a query string asks for. Parameters that make no sense are reset to their
    defaults and named in ``errors`` (the page says so), never a failed page.

    Args:
        experiment_id: the experiment.
        query: the query parameters; ``col`` is read from ``columns``.
        columns: the values of the repeated ``col`` parameter.
    """
    errors: list[str] = []

    def text(name: str) -> str:
        value = (query.get(name) or "").strip()
        if len(value) > _MAX_TEXT:
            errors.append(f"{name} is longer than {_MAX_TEXT} characters; it was ignored")
            return ""
        return value

    feedback = text("feedback")
    if feedback not in FEEDBACK_FILTERS:
        errors.append(f"Unknown feedback filter {feedback[:40]!r}: expected one of "
                      f"{', '.join(k for k in FEEDBACK_FILTERS if k)}")
        feedback = ""
    direction = text("dir").lower()
    if direction not in ("", "asc", "desc"):
        errors.append(f"Unknown sort direction {direction[:10]!r}: expected asc or desc")
        direction = ""
    sort = text("sort") or "time"
    page_size = DEFAULT_PAGE_SIZE
    if query.get("n"):
        try:
            page_size = int(query["n"])
        except ValueError:
            page_size = 0
        if not _MIN_PAGE <= page_size <= _MAX_PAGE:
            errors.append(f"Invalid rows per page {query['n'][:10]!r}: expected {_MIN_PAGE} "
                          f"to {_MAX_PAGE}")
            page_size = DEFAULT_PAGE_SIZE
    picked: tuple[str, ...] | None = None
    if query.get("cols") == "1" or columns:
        picked = tuple(dict.fromkeys(c for c in columns if c and len(c) <= 300))
    number = 0
    if query.get("p"):
        raw = query["p"].strip()
        number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
        if not 1 <= number <= MAX_PAGE_NUMBER:
            errors.append(f"Invalid page number {raw[:12]!r}: expected 1 or more; showing the "
                          "first page")
            number = 0
    descending = direction == "desc" if direction else sort in ("time", "duration") \
        or sort.startswith("feedback:")
    return TraceView(
        experiment_id=experiment_id, filter=text("filter"), user=text("user"),
        session=text("session"), feedback=feedback, thumbs=text("on"), range=text("range"),
        start=text("from"),
        end=text("to"), sort=sort, descending=descending, columns=picked,
        page_size=page_size, page=text("page"), number=number, errors=tuple(errors))


def check_sort(view: TraceView, columns: Mapping[str, Column]) -> TraceView:
    """The view, with an unknown or unsortable sort column reset to time (and said so)."""
    if view.sort == "trace" or (view.sort in columns and columns[view.sort].sort_field):
        return view
    message = f"Cannot sort by {view.sort[:60]!r}; sorted by time instead"
    return replace(view, sort="time", descending=True, errors=(*view.errors, message))
