"""A labeling session as its owner sees it: progress, agreement, disagreements, adjudication,
gold labels and routing rules.

``/experiments/{eid}/labeling/sessions/{run_id}`` (and ``.json``) needs *read*; its forms
(adjudicate an item, add or delete a routing rule) need *write*. Reviewers are not owners:
their role has neither, so they never reach these pages (they work at ``/review``).

The page reads the session's answers once (``get_labeling_answers``) and its gold labels
once (``get_labeling_gold``), and computes the agreement from them with the code
:meth:`LabelingSession.agreement` runs, so the figures are the API's. The forms are plain
posts with the CSRF token, answered with a 303 back and a flash; a value the schema refuses
re-renders the page with the message at the item's field (400), nothing written.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.entities import Trace
from assay.entities.assessment import AssessmentSourceType
from assay.entities.label_schema import InputPassFail, LabelSchema
from assay.entities.labeling import GoldLabel, LabelingSessionInfo, SessionProgress
from assay.errors import InvalidParameterError, NotFoundError
from assay.genai.labeling import agreement_by_schema, disagreements_by_schema, level_of
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.review.questions import form_values, question_context, read_answers
from assay.server.route_tables import RouteTable
from assay.server.ui.agreement_readings import agreement_card
from assay.server.ui.form_posts import read_pairs, source_name
from assay.server.ui.templating import format_number, page, page_route
from assay.stats.agreement import Agreement, Disagreement, Level
from assay.store.base import Store

__all__ = ["router", "session_url"]

router = RouteTable()
_log = logging.getLogger(__name__)

#: Items with a disagreement listed a page (open ones first; a pager for the rest).
DISPUTES_SHOWN = 20
#: The longest request or response shown beside a disagreement.
_PREVIEW_CHARS = 600
#: Items per page of the items table.
ITEMS_PER_PAGE = 25
_PATH = "/experiments/{experiment_id}/labeling/sessions/{run_id}"


def session_url(experiment_id: str, run_id: str) -> str:
    """The owner's page of a session."""
    return (f"/experiments/{quote(experiment_id, safe='')}/labeling/sessions/"
            f"{quote(run_id, safe='')}")


@page_route(router, _PATH, action=Action.READ)
def session_page(request: Request, experiment_id: str, run_id: str, store: StoreDep,
                 page_token: Annotated[str | None, Query(alias="page", max_length=4096)] = None,
                 disputes_page: Annotated[int, Query(alias="disputes", ge=1, le=1_000_000)] = 1,
                 ) -> Response:
    """A session: progress, agreement, disagreements with adjudication, gold labels, rules.
    Right after the owner's own change (the redirect that says what it did) the figures are
    current; otherwise a large session may show its last ones while they are counted again."""
    return page(request, "labeling/session.html",
                session_context(request, store, experiment_id, run_id, page_token,
                                disputes_page=disputes_page,
                                fresh="flash" in request.query_params))


@dataclass(frozen=True)
class _Summary:
    """What the page computes from all of a session's answers and gold labels."""

    agreement: dict[str, Agreement]
    disagreements: dict[str, list[Disagreement[str, str]]]
    gold: dict[str, dict[str, GoldLabel]]
    #: The items with a disagreement, open ones first.
    ranked: list[str]
    num_open_items: int


@dataclass(frozen=True)
class _Kept:
    """A summary kept, with the session's state it was computed at (its answers version and
    progress counts), when, and how long computing it took."""

    key: tuple[int, int, int]
    summary: _Summary
    computed_at: float
    seconds: float


#: Summaries kept, by (store, session).
_SUMMARIES: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
_SUMMARIES_KEPT = 32
_SUMMARIES_LOCK = threading.Lock()
#: Sessions whose summary is being computed again in the background.
_REFRESHING: set[tuple[str, str]] = set()
#: A session with more answers than this (completed reviews times questions) is shown, once
#: it has changed, with the summary it had (and the page says how old it is) while a thread
#: computes the new one: the owner's page stays fast while reviewers answer (computing takes
#: about a tenth of a second per 40,000 answers). Smaller ones are computed again at once,
#: so they always show current figures.
LIVE_ANSWERS = 10_000
#: Such a session is counted again at most this often, and after at least five times as long
#: as counting took, so that the counting (in the server's process) takes a small share of
#: its time however fast answers arrive.
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class _Shown:
    """The summary a page shows, and when it was computed if the session changed since."""

    summary: _Summary
    stale_since: float | None = None


def _summary(store: Store, run_id: str, levels: dict[str, Level],
             progress: SessionProgress, *, fresh: bool = False) -> _Shown:
    """The agreement, disagreements and gold labels of a session: computed from all its
    answers (``get_labeling_answers``, the figures :meth:`LabelingSession.agreement` gives),
    and kept until the session changes. The store's answers version moves with every
    answer, adjudication and change of items; the progress counts with the rest (a trace
    deleted, say). A store that keeps no version gets them computed every time. A large
    session that changed is shown with its last figures unless ``fresh`` (see
    :data:`LIVE_ANSWERS`)."""
    version = store.get_labeling_answers_version(run_id)
    if version is None:
        return _Shown(_compute(store, run_id, levels))
    where = (getattr(store, "uri", None) or f"{type(store).__name__}@{id(store)}", run_id)
    key = (version, progress.items, progress.completed_reviews)
    with _SUMMARIES_LOCK:
        kept = _SUMMARIES.get(where)
        if kept is not None and kept.key == key:
            _SUMMARIES.move_to_end(where)
            return _Shown(kept.summary)
        large = progress.completed_reviews * max(1, len(levels)) > LIVE_ANSWERS
        if kept is not None and not fresh and large:
            due = kept.computed_at + max(REFRESH_SECONDS, 5 * kept.seconds)
            if where not in _REFRESHING and time.time() >= due:
                _REFRESHING.add(where)
                threading.Thread(target=_refresh, args=(store, run_id, levels, where, key),
                                 name="assay-labeling-summary", daemon=True).start()
            return _Shown(kept.summary, stale_since=kept.computed_at)
    return _Shown(_compute_and_keep(store, run_id, levels, where, key))


def _refresh(store: Store, run_id: str, levels: dict[str, Level], where: tuple[str, str],
             key: tuple[int, int, int]) -> None:
    """Compute a session's summary in the background (the page showed the last one)."""
    try:
        _compute_and_keep(store, run_id, levels, where, key)
    except Exception:  # the next view computes it in the open, and shows what went wrong
        _log.warning("Assay could not compute the summary of labeling session %s", run_id,
                     exc_info=True)
    finally:
        with _SUMMARIES_LOCK:
            _REFRESHING.discard(where)


def _compute_and_keep(store: Store, run_id: str, levels: dict[str, Level],
                      where: tuple[str, str], key: tuple[int, int, int]) -> _Summary:
    """Compute the summary (``key`` was read before its answers, so a change made meanwhile
    leaves it behind and is counted by the next view) and keep it."""
    started = time.perf_counter()
    summary = _compute(store, run_id, levels)
    kept = _Kept(key, summary, time.time(), time.perf_counter() - started)
    with _SUMMARIES_LOCK:
        before = _SUMMARIES.get(where)
        if before is None or before.key <= key:
            _SUMMARIES[where] = kept
            _SUMMARIES.move_to_end(where)
        while len(_SUMMARIES) > _SUMMARIES_KEPT:
            _SUMMARIES.popitem(last=False)
    return summary


def _compute(store: Store, run_id: str, levels: dict[str, Level]) -> _Summary:
    answers = store.get_labeling_answers(run_id)
    gold = store.get_labeling_gold(run_id)
    disagreements = disagreements_by_schema(answers, gold)
    by_item: dict[str, bool] = {}  # item → every disputed question of it settled
    for found in disagreements.values():
        for d in found:
            by_item[d.item_id] = by_item.get(d.item_id, True) and d.adjudicated is not None
    return _Summary(agreement=agreement_by_schema(answers, levels),
                    disagreements=disagreements, gold=gold,
                    ranked=sorted(by_item, key=by_item.__getitem__),
                    num_open_items=sum(1 for settled in by_item.values() if not settled))


def session_context(request: Request, store: Store, experiment_id: str, run_id: str,
                    page_token: str | None = None,
                    error: dict[str, Any] | None = None,
                    disputes_page: int = 1, fresh: bool = False) -> dict[str, Any]:
    """The session page's context; ``error`` marks one adjudication form that was refused
    (``trace_id``, ``schema``, ``message``, ``values``); ``fresh`` asks for current
    figures however long they take (after the owner's own change)."""
    info = _session(store, experiment_id, run_id)
    experiment = store.get_experiment(experiment_id)
    schemas = _schemas(store, info)
    levels = {name: level_of(s.input) for name, s in schemas.items()}
    progress = store.get_labeling_progress(run_id)
    shown = _summary(store, run_id, levels, progress, fresh=fresh or error is not None)
    summary = shown.summary
    gold, disagreements = summary.gold, summary.disagreements
    base = session_url(experiment_id, run_id)
    reviewers = dict.fromkeys(info.assigned_users)
    reviewers.update(dict.fromkeys(progress.reviewers))
    questions: list[dict[str, Any]] = []
    for name in info.label_schemas:
        schema = schemas.get(name)
        questions.append({
            "name": name,
            "title": schema.question if schema else name,
            "kind": schema.input.kind if schema else "missing",
            "agreement": agreement_card(summary.agreement.get(name),
                                        levels.get(name, "nominal"), schema),
            "num_disagreements": len(disagreements.get(name, [])),
            "num_adjudicated": sum(1 for g in gold.get(name, {}).values() if g.adjudicated),
            "num_gold": len(gold.get(name, {})),
        })
    found = store.search_traces([experiment_id], max_results=ITEMS_PER_PAGE,
                                page_token=page_token, run_id=run_id, include_spans=False,
                                order_by=["timestamp_ms ASC"])
    items = [_item(t, info, schemas, gold) for t in found]
    rules = store.list_routing_rules(run_id)
    if error is not None and error["trace_id"] in summary.ranked:
        # A refused adjudication is shown on the page of its item.
        disputes_page = summary.ranked.index(error["trace_id"]) // DISPUTES_SHOWN + 1
    last_page = max(1, -(-len(summary.ranked) // DISPUTES_SHOWN))
    disputes_page = min(disputes_page, last_page)
    first = (disputes_page - 1) * DISPUTES_SHOWN
    on_page = summary.ranked[first:first + DISPUTES_SHOWN]

    def disputes_url(number: int) -> str:
        query = {"page": page_token} if page_token else {}
        if number > 1:
            query["disputes"] = str(number)
        return f"{base}?{urlencode(query)}#disagreements" if query else f"{base}#disagreements"

    return {
        "experiment": {"experiment_id": experiment_id, "name": experiment.name,
                       "url": f"/experiments/{quote(experiment_id, safe='')}",
                       "labeling_url": f"/experiments/{quote(experiment_id, safe='')}/labeling"},
        "session": {
            "run_id": run_id, "name": info.name, "url": base,
            "review_url": f"{str(request.base_url).rstrip('/')}/review/{quote(run_id, safe='')}",
            "assigned_users": list(info.assigned_users),
            "reviewers_per_item": info.reviewers_per_item,
            "instructions": info.instructions, "created_by": info.created_by,
            "created_at": info.created_at, "label_schemas": list(info.label_schemas),
        },
        "progress": {
            "num_items": progress.items, "done_items": progress.done_items,
            "completed_reviews": progress.completed_reviews,
            "reviews_needed": progress.items * progress.reviewers_per_item,
            "fraction_done": progress.fraction_done,
            "reviewers": [
                (progress.reviewers[r].to_dict() if r in progress.reviewers else
                 {"reviewer": r, "completed": 0, "skipped": 0, "in_progress": 0})
                for r in reviewers],
        },
        "questions": questions,
        "disputes": _disputes(store, info, schemas, disagreements, gold, error, on_page),
        "disputes_pager": {
            "number": disputes_page, "last_page": last_page,
            "first_row": first + 1 if on_page else 0, "last_row": first + len(on_page),
            "prev_url": disputes_url(disputes_page - 1) if disputes_page > 1 else None,
            "next_url": disputes_url(disputes_page + 1) if disputes_page < last_page
            else None,
        },
        "figures": {"stale": shown.stale_since is not None,
                    "computed_at": None if shown.stale_since is None
                    else int(shown.stale_since * 1000),
                    "age_seconds": None if shown.stale_since is None
                    else max(0, round(time.time() - shown.stale_since))},
        "num_disputed_items": len(summary.ranked),
        "num_open_items": summary.num_open_items,
        "items": items,
        "next_items_url": f"{base}?{urlencode({'page': found.token})}#items"
        if found.token else None,
        "first_items_url": f"{base}#items" if page_token else None,
        "rules": [{**r.to_dict(), "delete_url": f"{base}/rules/{quote(r.rule_id, safe='')}/delete"}
                  for r in rules],
        "adjudicate_url": f"{base}/adjudicate",
        "rules_url": f"{base}/rules",
        "_error": error,
    }


def _session(store: Store, experiment_id: str, run_id: str) -> LabelingSessionInfo:
    info = store.get_labeling_session(run_id)
    if info.experiment_id != experiment_id:
        raise NotFoundError(
            f"Labeling session {run_id!r} not found in experiment {experiment_id!r}")
    return info


def _schemas(store: Store, info: LabelingSessionInfo) -> dict[str, LabelSchema]:
    found: dict[str, LabelSchema] = {}
    for name in info.label_schemas:
        try:
            found[name] = store.get_label_schema(experiment_id=info.experiment_id, name=name)
        except NotFoundError:  # deleted since: shown, not measured
            continue
    return found


def shown_value(schema: LabelSchema | None, value: Any) -> str:
    """An answer as the owner reads it: a pass/fail label, options joined, a number."""
    if value is None:
        return "\u2014"
    if schema is not None and isinstance(schema.input, InputPassFail) and isinstance(value, bool):
        return schema.input.positive_label if value else schema.input.negative_label
    if isinstance(value, (list, tuple, frozenset)):
        return ", ".join(sorted(str(v) for v in value)) if value else "(none)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def _gold(schema: LabelSchema | None, label: GoldLabel | None) -> dict[str, Any] | None:
    if label is None:
        return None
    return {"value": label.value, "shown": shown_value(schema, label.value),
            "adjudicated": label.adjudicated}


def _disputes(store: Store, info: LabelingSessionInfo, schemas: dict[str, LabelSchema],
              disagreements: dict[str, list[Any]], gold: dict[str, dict[str, GoldLabel]],
              error: dict[str, Any] | None, shown: list[str]) -> list[dict[str, Any]]:
    """The items ``shown`` of those whose reviewers disagree on some question: each with its
    request and response, and per disputed question every reviewer's answer and the control
    to set the final value."""
    wanted = set(shown)
    by_item: dict[str, list[tuple[int, str, Any]]] = {item: [] for item in shown}
    for position, name in enumerate(info.label_schemas):
        for d in disagreements.get(name, []):
            if d.item_id in wanted:
                by_item[d.item_id].append((position, name, d))
    traces = store.find_traces(shown) if shown else {}
    disputes = []
    for item in shown:
        trace = traces.get(item)
        disputes.append({
            "trace_id": item,
            "trace_url": f"/traces/{quote(item, safe='')}",
            "request": _clip(trace.info.request_preview if trace else None),
            "response": _clip(trace.info.response_preview if trace else None),
            "is_open": any(d.adjudicated is None for _, _, d in by_item[item]),
            "questions": [_dispute(position, name, schemas.get(name), d,
                                   gold.get(name, {}).get(item), error)
                          for position, name, d in by_item[item]],
        })
    return disputes


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _PREVIEW_CHARS:
        return text
    return text[:_PREVIEW_CHARS - 1] + "\u2026"


def _dispute(position: int, name: str, schema: LabelSchema | None, d: Any,
             label: GoldLabel | None, error: dict[str, Any] | None) -> dict[str, Any]:
    mine = (error if error is not None and error["trace_id"] == d.item_id
            and error["schema"] == name else None)
    value = (mine["values"].get("a0") if mine is not None else
             form_values(schema, label.value) if schema and label and label.adjudicated
             else None)
    return {
        "name": name,
        "title": schema.question if schema else name,
        "answers": [{"reviewer": r, "shown": shown_value(schema, v),
                     "pick": json.dumps(sorted(v) if isinstance(v, frozenset) else v,
                                        ensure_ascii=False)}
                    for r, v in sorted(d.answers.items())],
        "gold": _gold(schema, label),
        "question": (question_context(0, name, schema, value,
                                      mine["message"] if mine else None)
                     if schema else None),
        "anchor": f"d{position}-{d.item_id}",
    }


def _item(trace: Trace, info: LabelingSessionInfo, schemas: dict[str, LabelSchema],
          gold: dict[str, dict[str, GoldLabel]]) -> dict[str, Any]:
    # Who answered: the reviewers with a current answer to one of the session's questions
    # (what get_labeling_answers counts), read from the trace's own assessments.
    trace_id = trace.info.trace_id
    reviewed = {a.source.source_id for a in trace.info.assessments
                if a.valid and a.run_id == info.run_id and a.name in info.label_schemas
                and a.source.source_type is AssessmentSourceType.HUMAN
                and a.source.source_id is not None}
    return {
        "trace_id": trace_id,
        "trace_url": f"/traces/{quote(trace_id, safe='')}",
        "request": trace.info.request_preview,
        "reviewed_by": sorted(reviewed),
        "gold": {name: _gold(schemas.get(name), gold.get(name, {}).get(trace_id))
                 for name in info.label_schemas},
    }


# -- the forms -------------------------------------------------------------------------------

def _back(request: Request, experiment_id: str, run_id: str, message: str,
          anchor: str = "") -> Response:
    url = f"{session_url(experiment_id, run_id)}?{urlencode({'flash': message})}"
    return RedirectResponse(url + (f"#{anchor}" if anchor else ""), status_code=303)


@router.post(_PATH + "/adjudicate", include_in_schema=False, openapi_extra=needs(Action.WRITE))
async def adjudicate(request: Request, experiment_id: str, run_id: str,
                     store: StoreDep) -> Response:
    """Set (or clear) an item's final value for one question: ``trace_id``, ``schema``,
    and ``pick`` (a reviewer's answer, as JSON), the control's field ``a0``, or ``clear``."""
    pairs = await read_pairs(request)
    return await run_in_threadpool(_adjudicate, request, experiment_id, run_id, store, pairs)


def _adjudicate(request: Request, experiment_id: str, run_id: str, store: Store,
                pairs: list[tuple[str, str]]) -> Response:
    fields = dict(pairs)
    info = _session(store, experiment_id, run_id)
    trace_id = fields.get("trace_id", "")
    name = fields.get("schema", "")
    if name not in info.label_schemas:
        raise InvalidParameterError(
            f"Invalid schema {name[:60]!r}: this session asks "
            f"{', '.join(repr(n) for n in info.label_schemas) or 'nothing'}")
    schema = store.get_label_schema(experiment_id=experiment_id, name=name)
    value: Any
    try:
        if "clear" in fields:
            value = None
        elif fields.get("pick"):
            try:
                value = json.loads(fields["pick"])
            except ValueError:
                raise InvalidParameterError(
                    "Invalid pick: not one of the reviewers' answers") from None
            value = schema.check_value(value)
        else:
            read = read_answers([name], {name: schema}, pairs)
            if read.errors:
                message = next(iter(read.errors.values()))
                if message.startswith("Answer at least one"):
                    message = "Choose or write the final value (or use a reviewer's answer)"
                raise InvalidParameterError(message)
            value = read.answers[name]
        label = store.adjudicate_labeling_item(run_id, trace_id, name, value,
                                               source_name(request))
    except InvalidParameterError as exc:
        values = {"a0": [v for k, v in pairs if k == "a0"] if _multiple(schema)
                  else fields.get("a0", "")}
        context = session_context(request, store, experiment_id, run_id, error={
            "trace_id": trace_id, "schema": name, "message": exc.message, "values": values})
        return page(request, "labeling/session.html", context, status=400)
    if value is None:
        message = f"Adjudication of {name!r} cleared"
    else:
        message = (f"Gold label of {name!r} set to {shown_value(schema, value)}"
                   if label is not None else f"{name!r} adjudicated")
    return _back(request, experiment_id, run_id, message[:300])


def _multiple(schema: LabelSchema) -> bool:
    return schema.input.kind == "categorical_list" or bool(
        getattr(schema.input, "multi_select", False))


@router.post(_PATH + "/rules", include_in_schema=False, openapi_extra=needs(Action.WRITE))
async def add_rule(request: Request, experiment_id: str, run_id: str,
                   store: StoreDep) -> Response:
    """Add a routing rule: ``filter`` and ``sample_rate`` (a percentage, default 100)."""
    fields = dict(await read_pairs(request))
    return await run_in_threadpool(_add_rule, request, experiment_id, run_id, store, fields)


def _add_rule(request: Request, experiment_id: str, run_id: str, store: Store,
              fields: dict[str, str]) -> Response:
    _session(store, experiment_id, run_id)
    filter_string = fields.get("filter", "").strip()
    if not filter_string:
        raise InvalidParameterError(
            "Invalid filter: it is empty; e.g. feedback.user_feedback = 'false'")
    raw = fields.get("sample_percent", "").strip() or "100"
    try:
        percent = float(raw)
    except ValueError:
        raise InvalidParameterError(
            f"Invalid sample_percent {raw[:20]!r}: expected a number above 0 and up to 100"
        ) from None
    if not 0 < percent <= 100:
        raise InvalidParameterError(
            f"Invalid sample_percent {raw[:20]!r}: expected a number above 0 and up to 100")
    store.create_routing_rule(run_id, filter_string, percent / 100, source_name(request))
    return _back(request, experiment_id, run_id, "Routing rule added", "rules")


@router.post(_PATH + "/rules/{rule_id}/delete", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
async def delete_rule(request: Request, experiment_id: str, run_id: str, rule_id: str,
                      store: StoreDep) -> Response:
    """Delete a routing rule (the traces it routed stay)."""
    await read_pairs(request)

    def delete() -> Response:
        _session(store, experiment_id, run_id)
        store.delete_routing_rule(run_id, rule_id)
        return _back(request, experiment_id, run_id, "Routing rule deleted", "rules")

    response: Response = await run_in_threadpool(delete)
    return response
