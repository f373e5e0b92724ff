"""The review app's pages and forms: ``/review`` (the reviewer's sessions), ``/review/{run_id}``
(a session: its questions and the reviewer's progress), ``/review/{run_id}/items/{trace_id}``
(one item: the conversation beside the questions).

Every page answers as JSON at the same URL plus ``.json``; the item page also as an HTML
fragment (``?fragment=1``: the part the script swaps in after a submit). The forms are plain
posts that work without JavaScript (CSRF token, 303 to the next item); a post that asks for
JSON (the page's script) gets ``{"next_url", "done"}``, or a 400 with ``errors`` by field.
Every route needs the *review* action and acts for the reviewer of :mod:`.reviewer`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.entities import Trace
from assay.entities.label_schema import LabelSchema
from assay.entities.labeling import LabelingSessionInfo, SessionProgress, check_reviewer
from assay.entities.review_queue import ReviewStatus, queue_id_of
from assay.errors import InvalidParameterError
from assay.server.deps import StoreDep
from assay.server.login import safe_next
from assay.server.permissions import Action, needs
from assay.server.review.conversation import conversation, earlier_turns, prior_feedback
from assay.server.review.questions import (
    COMMENT_FIELD,
    FormAnswers,
    comment_field,
    earlier_answers,
    field_name,
    form_values,
    question_context,
    read_answers,
)
from assay.server.review.reviewer import (
    current_reviewer,
    may_read_traces,
    remember_reviewer,
    signed_in_user,
    visible_session,
)
from assay.server.review_queue_rules import completer
from assay.server.route_tables import RouteTable
from assay.server.ui.assessment_forms import wants_json
from assay.server.ui.templating import (
    environment,
    is_json_request,
    page,
    page_route,
    request_context,
)
from assay.store.base import Store

__all__ = ["build_review_router", "router"]

router = RouteTable()


def build_review_router() -> RouteTable:
    """The review app's routes."""
    return router


_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FORM_BYTES = 1 << 20
#: How many neighbours in time are read to find the previous and next item (more traces
#: than this at the very same millisecond are walked past).
_NEIGHBOURS = 6


# -- who reviews -----------------------------------------------------------------------------

@page_route(router, "/review/reviewer", action=Action.REVIEW)
def reviewer_page(request: Request) -> Response:
    """The form that asks for the reviewer's name (auth off), e.g. to change it."""
    return _name_form(request, request.query_params.get("next") or "/review")


@router.post("/review/reviewer", include_in_schema=False, openapi_extra=needs(Action.REVIEW))
async def set_reviewer(request: Request) -> Response:
    """Keep the reviewer's name in a cookie, and go on to ``next``."""
    fields = dict(await _read_pairs(request))
    target = _next_page(fields.get("next"))
    if signed_in_user(request) is not None:
        raise InvalidParameterError(
            "Invalid name: you are signed in, and review as your user")
    name = fields.get("name", "").strip()
    try:
        if not name:
            raise InvalidParameterError("Enter your name or e-mail")
        check_reviewer(name, "name")
    except InvalidParameterError as exc:
        if is_json_request(request) or wants_json(request):
            raise
        return _name_form(request, target, name=name[:250], error=exc.message, status=400)
    response = RedirectResponse(target, status_code=303)
    remember_reviewer(response, name, secure=request.url.scheme == "https")
    return response


def _name_form(request: Request, target: str, *, name: str = "", error: str | None = None,
               status: int = 200) -> Response:
    if signed_in_user(request) is not None:
        return RedirectResponse("/review", status_code=303)
    context = {"next": _next_page(target), "name": name or current_reviewer(request) or "",
               "error": error}
    return page(request, "review/name.html", context, status=status)


def _next_page(target: str | None) -> str:
    """Where to go after the name form: a path on this server, else the sessions."""
    safe = safe_next(target)
    return "/review" if safe == "/" else safe


def _ask_name(request: Request) -> Response:
    """The name form in place of a page that needs a reviewer (a 400 for JSON)."""
    if is_json_request(request):
        raise InvalidParameterError(
            "Invalid reviewer: open /review in a browser and give your name, or sign in")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _name_form(request, target)


# -- the reviewer's sessions -----------------------------------------------------------------

@page_route(router, "/review", action=Action.REVIEW)
def sessions_page(request: Request, store: StoreDep) -> Response:
    """The sessions open to the reviewer, newest first, with their progress."""
    reviewer = current_reviewer(request)
    if reviewer is None:
        return _ask_name(request)
    experiment_ids = [e.experiment_id for e in store.search_experiments(max_results=1000)]
    sessions = store.list_labeling_sessions(experiment_ids, reviewer=reviewer) \
        if experiment_ids else []
    rows = []
    for info in sessions:
        progress = store.get_labeling_progress(info.run_id)
        rows.append({**_session_summary(info), "progress": _progress(progress, reviewer)})
    context = {"reviewer": reviewer, "sessions": rows,
               "_change_name": signed_in_user(request) is None}
    return page(request, "review/sessions.html", context)


# -- one session -----------------------------------------------------------------------------

@page_route(router, "/review/{run_id}", action=Action.REVIEW)
def session_page(run_id: str, request: Request, store: StoreDep) -> Response:
    """A session: its instructions and questions, the reviewer's progress, and the button
    that starts (or continues) their queue."""
    reviewer = current_reviewer(request)
    if reviewer is None:
        return _ask_name(request)
    info = visible_session(store, request, run_id, reviewer)
    schemas = _schemas(store, info)
    progress = _progress(store.get_labeling_progress(run_id), reviewer)
    started = progress["completed"] + progress["skipped"] > 0
    first = store.search_traces([info.experiment_id], max_results=1, include_spans=False,
                                run_id=run_id, order_by=["timestamp_ms ASC"])
    context = {
        "reviewer": reviewer,
        "session": _session_summary(info),
        "progress": progress,
        "questions": [question_context(i, n, schemas.get(n))
                      for i, n in enumerate(info.label_schemas)],
        "start_label": "Continue" if started else "Start",
        "first_item_url": _item_url(run_id, first[0].info.trace_id) if first else None,
        "done": request.query_params.get("done") == "1",
        "said": _said(request),
        "_change_name": signed_in_user(request) is None,
    }
    return page(request, "review/session.html", context)


@router.post("/review/{run_id}/next", include_in_schema=False,
             openapi_extra=needs(Action.REVIEW))
def next_item(run_id: str, request: Request, store: StoreDep) -> Response:
    """Claim the reviewer's next item and go to it (to the session when none is left)."""
    reviewer = current_reviewer(request)
    if reviewer is None:
        raise InvalidParameterError("Invalid reviewer: give your name first (open /review)")
    info = visible_session(store, request, run_id, reviewer)
    return _go_next(request, store, info, reviewer, None)


#: What was done to the last item, said on the page that follows (``?said=``, a key of
#: this table: a page never shows text taken from its URL).
_SAID = {"saved": "Answers saved", "skipped": "Skipped",
         ReviewStatus.COMPLETE.value: "Marked complete for everyone",
         ReviewStatus.DECLINED.value: "Declined for everyone"}


def _said(request: Request) -> str | None:
    return _SAID.get(request.query_params.get("said", ""))


def _go_next(request: Request, store: Store, info: LabelingSessionInfo, reviewer: str,
             said: str | None) -> Response:
    """Where the reviewer goes next: a 303 to their next item (or the session's page when
    none is left), or for the script, JSON with its URL. A post to ``…?fragment=1`` also
    gets the next item's HTML (``html``), so that the script shows it without a second
    round trip. ``said`` (a key of :data:`_SAID`) is what was done to the last item: the
    next page says it, with or without the script."""
    run_id = info.run_id
    found = store.next_labeling_item(run_id, reviewer)
    url = _item_url(run_id, found) if found else f"{_session_url(run_id)}?done=1"
    said_text = None if said is None else _SAID[said]
    if said is not None:
        url += f"{'&' if '?' in url else '?'}said={said}"
    if wants_json(request):
        body: dict[str, Any] = {"message": said_text or "", "next_url": url,
                                "done": found is None, "trace_id": found}
        if found and request.query_params.get("fragment") == "1":
            context = _item_context(request, store, info, found, reviewer)
            context["said"] = said_text
            body["html"] = environment().get_template("review/_item.html").render(
                {**request_context(request), **context})
        return JSONResponse(body)
    return RedirectResponse(url, status_code=303)


# -- one item --------------------------------------------------------------------------------

@page_route(router, "/review/{run_id}/items/{trace_id}", action=Action.REVIEW)
def item_page(run_id: str, trace_id: str, request: Request, store: StoreDep) -> Response:
    """One item: the conversation, the questions (pre-filled with the reviewer's earlier
    answers), the reviewer's progress and the way to the items before and after."""
    reviewer = current_reviewer(request)
    if reviewer is None:
        return _ask_name(request)
    info = visible_session(store, request, run_id, reviewer)
    return _render_item(request, store, info, trace_id, reviewer)


@router.post("/review/{run_id}/items/{trace_id}", include_in_schema=False,
             openapi_extra=needs(Action.REVIEW))
async def submit_item(run_id: str, trace_id: str, request: Request,
                      store: StoreDep) -> Response:
    """Record the reviewer's answers, then go to their next item."""
    pairs = await _read_pairs(request)
    return await _in_thread(_submit, request, store, run_id, trace_id, pairs)


def _submit(request: Request, store: Store, run_id: str, trace_id: str,
            pairs: list[tuple[str, str]]) -> Response:
    reviewer = current_reviewer(request)
    if reviewer is None:
        raise InvalidParameterError("Invalid reviewer: give your name first (open /review)")
    info = visible_session(store, request, run_id, reviewer)
    schemas = _schemas(store, info)
    posted = read_answers(info.label_schemas, schemas, pairs)
    if not posted.errors:
        try:
            store.submit_labeling_answers(run_id, trace_id, reviewer, posted.answers,
                                          posted.comment, comments=posted.comments)
        except InvalidParameterError as exc:
            posted.errors["form"] = exc.message
    if posted.errors:
        if wants_json(request):
            first = next(iter(posted.errors.values()))
            return JSONResponse({"error_code": "INVALID_PARAMETER_VALUE", "message": first,
                                 "errors": posted.errors}, status_code=400)
        return _render_item(request, store, info, trace_id, reviewer, posted=posted,
                            status=400)
    return _go_next(request, store, info, reviewer, "saved")


@router.post("/review/{run_id}/items/{trace_id}/skip", include_in_schema=False,
             openapi_extra=needs(Action.REVIEW))
async def skip_item(run_id: str, trace_id: str, request: Request,
                    store: StoreDep) -> Response:
    """Pass on an item (one not answered yet), then go to the next."""
    await _read_pairs(request)  # a form post; its only field is the CSRF token
    return await _in_thread(_skip, request, store, run_id, trace_id)


def _skip(request: Request, store: Store, run_id: str, trace_id: str) -> Response:
    reviewer = current_reviewer(request)
    if reviewer is None:
        raise InvalidParameterError("Invalid reviewer: give your name first (open /review)")
    info = visible_session(store, request, run_id, reviewer)
    try:
        store.skip_labeling_item(run_id, trace_id, reviewer)
    except InvalidParameterError as exc:
        if wants_json(request):
            raise
        return _render_item(request, store, info, trace_id, reviewer,
                            posted=FormAnswers(errors={"form": exc.message}), status=400)
    return _go_next(request, store, info, reviewer, "skipped")


@router.post("/review/{run_id}/items/{trace_id}/status", include_in_schema=False,
             openapi_extra=needs(Action.REVIEW))
async def set_item_status(run_id: str, trace_id: str, request: Request,
                          store: StoreDep) -> Response:
    """In a review queue, mark the item complete or declined for everyone who reviews it
    (its shared status: it is handed out no more), then go to the next item."""
    pairs = await _read_pairs(request)
    status = next((value for key, value in pairs if key == "status"), "")
    return await _in_thread(_set_status, request, store, run_id, trace_id, status)


#: What the review app may set an item's shared status to.
_SETTLED = frozenset({ReviewStatus.COMPLETE.value, ReviewStatus.DECLINED.value})


def _set_status(request: Request, store: Store, run_id: str, trace_id: str,
                status: str) -> Response:
    reviewer = current_reviewer(request)
    if reviewer is None:
        raise InvalidParameterError("Invalid reviewer: give your name first (open /review)")
    info = visible_session(store, request, run_id, reviewer)
    if status not in _SETTLED:
        raise InvalidParameterError(
            f"Invalid status {status[:40]!r}: expected 'complete' or 'declined'")
    if not info.queue_type:
        raise InvalidParameterError(
            f"Labeling session {info.name!r} is not a review queue: its items have no "
            "shared status")
    # Attributed as the queue routes attribute it: the signed-in user, else the reviewer's
    # name.
    user = signed_in_user(request)
    store.set_review_queue_item_status(
        queue_id_of(run_id), item_id=trace_id, status=status,
        completed_by=completer(status, reviewer if user is None else None, user))
    return _go_next(request, store, info, reviewer, status)


def _render_item(request: Request, store: Store, info: LabelingSessionInfo, trace_id: str,
                 reviewer: str, *, posted: FormAnswers | None = None,
                 status: int = 200) -> Response:
    context = _item_context(request, store, info, trace_id, reviewer, posted=posted)
    if request.query_params.get("fragment") == "1" and not is_json_request(request):
        html = environment().get_template("review/_item.html").render(
            {**request_context(request), **context})
        return HTMLResponse(html, status_code=status)
    return page(request, "review/item.html", context, status=status)


def _item_context(request: Request, store: Store, info: LabelingSessionInfo, trace_id: str,
                  reviewer: str, *, posted: FormAnswers | None = None) -> dict[str, Any]:
    """What an item's page shows (its template's context)."""
    run_id = info.run_id
    trace = store.get_labeling_item(run_id, trace_id)
    schemas = _schemas(store, info)
    answered, comments = earlier_answers(trace.info.assessments, run_id, reviewer)
    errors = {} if posted is None else posted.errors
    questions = []
    for index, name in enumerate(info.label_schemas):
        schema = schemas.get(name)
        key, comment_key = field_name(index), comment_field(index)
        value: Any = None
        if posted is not None and key in posted.values:
            value = posted.values[key]
        elif schema is not None and name in answered:
            value = form_values(schema, answered[name])
        comment = comments.get(name)
        if posted is not None and comment_key in posted.values:
            comment = str(posted.values[comment_key])
        questions.append(question_context(index, name, schema, value, errors.get(key),
                                          comment=comment,
                                          comment_error=errors.get(comment_key)))
    url = _item_url(run_id, trace_id)
    previous, following = _neighbours(store, info, trace)
    context: dict[str, Any] = {
        "reviewer": reviewer,
        "session": _session_summary(info),
        "progress": _progress(store.get_labeling_progress(run_id), reviewer),
        "said": _said(request),
        "item": {
            "trace_id": trace.info.trace_id,
            "url": url,
            "submit_url": url,
            "skip_url": f"{url}/skip",
            # A review queue's items have a status shared by all its reviewers.
            "status_url": f"{url}/status" if info.queue_type else None,
            "trace_url": (f"/traces/{quote(trace.info.trace_id, safe='')}"
                          if may_read_traces(request) else None),
            "request_time_ms": trace.info.request_time,
            "answered": bool(answered),
            "previous_url": previous,
            "next_url": following,
        },
        "conversation": conversation(trace),
        "earlier_turns": earlier_turns(store, trace),
        "prior_feedback": prior_feedback(trace.info.assessments),
        "questions": questions,
        "form_error": errors.get("form") or errors.get(COMMENT_FIELD),
        # Said at the top too: without the script, a message low in the panel goes unseen.
        "error_summary": _error_summary(questions),
        "_change_name": signed_in_user(request) is None,
    }
    return context


def _error_summary(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields refused, in the form's order: each question's control, then its
    comment."""
    found: list[dict[str, Any]] = []
    for q in questions:
        if q["error"]:
            found.append({"field": q["field"], "label": f"question {q['number']}"})
        box = q.get("comment")
        if box and box["error"]:
            found.append({"field": box["field"],
                          "label": f"the comment on question {q['number']}"})
    return found


def _neighbours(store: Store, info: LabelingSessionInfo,
                trace: Trace) -> tuple[str | None, str | None]:
    """The URLs of the session's items just before and after ``trace`` in time (then by
    trace id), read as a few neighbours on each side rather than the whole session."""
    at = int(trace.info.request_time)
    me = trace.info.trace_id

    def around(op: str, direction: str) -> list[tuple[int, str]]:
        found = store.search_traces(
            [info.experiment_id], max_results=_NEIGHBOURS, include_spans=False,
            run_id=info.run_id, filter_string=f"trace.timestamp_ms {op} {at}",
            order_by=[f"timestamp_ms {direction}"])
        return [(int(t.info.request_time), t.info.trace_id) for t in found]

    ordered = sorted(set(around("<=", "DESC")) | set(around(">=", "ASC")))
    keys = [trace_id for _, trace_id in ordered]
    if me not in keys:
        return None, None
    index = keys.index(me)
    previous = keys[index - 1] if index > 0 else None
    following = keys[index + 1] if index + 1 < len(keys) else None
    return (None if previous is None else _item_url(info.run_id, previous),
            None if following is None else _item_url(info.run_id, following))


# -- shared pieces ---------------------------------------------------------------------------

def _schemas(store: Store, info: LabelingSessionInfo) -> dict[str, LabelSchema]:
    """The session's schemas by name (a schema deleted since is missing)."""
    wanted = set(info.label_schemas)
    found: dict[str, LabelSchema] = {}
    token: str | None = None
    while True:
        page_of = store.list_label_schemas(info.experiment_id, max_results=1000,
                                           page_token=token)
        found.update({s.name: s for s in page_of if s.name in wanted})
        token = page_of.token
        if not token or len(found) == len(wanted):
            return found


def _session_summary(info: LabelingSessionInfo) -> dict[str, Any]:
    return {"run_id": info.run_id, "name": info.name, "url": _session_url(info.run_id),
            "instructions": info.instructions, "num_questions": len(info.label_schemas),
            "reviewers_per_item": info.reviewers_per_item}


def _progress(progress: SessionProgress, reviewer: str) -> dict[str, Any]:
    """The reviewer's counts and the session's. ``left`` is what the reviewer may still be
    given: items neither done by enough reviewers nor completed or skipped by them (an
    upper bound when they skipped items others since finished)."""
    mine = progress.reviewers.get(reviewer)
    completed = mine.completed if mine else 0
    skipped = mine.skipped if mine else 0
    open_items = progress.items - progress.done_items
    left = max(0, min(progress.items - completed - skipped, open_items))
    return {"completed": completed, "skipped": skipped, "left": left,
            "num_items": progress.items, "done_items": progress.done_items,
            "completed_reviews": progress.completed_reviews,
            "reviewers_per_item": progress.reviewers_per_item,
            "percent": round(progress.fraction_done * 100),
            "mine_percent": round(100 * (completed + skipped) / progress.items)
            if progress.items else 0}


def _session_url(run_id: str) -> str:
    return f"/review/{quote(run_id, safe='')}"


def _item_url(run_id: str, trace_id: str) -> str:
    return f"{_session_url(run_id)}/items/{quote(trace_id, safe='')}"


async def _read_pairs(request: Request) -> list[tuple[str, str]]:
    """A URL-encoded form's fields, in order, repeated ones kept.

    Raises:
        InvalidParameterError: another content type, a body over 1 MiB, bad encoding.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise InvalidParameterError(
            f"Invalid form: expected Content-Type {_FORM_TYPE}, got {content_type or 'none'!r}")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise InvalidParameterError(
            f"Invalid form: {len(body):,} bytes; the limit is {_MAX_FORM_BYTES:,}")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterError(f"Invalid form encoding: {exc}") from None


async def _in_thread(function: Any, *args: Any) -> Response:
    # The store is synchronous: its calls run in the thread pool, as a sync route's would.
    response: Response = await run_in_threadpool(function, *args)
    return response

