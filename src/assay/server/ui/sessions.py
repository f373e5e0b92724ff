"""Sessions: the conversations of an experiment, and one conversation turn by turn.

``/experiments/{id}/sessions`` lists the sessions, the most recently active first, a page at
a time (``page`` is the cursor): each with its user, turns, first and last time, its first
question, the feedback on its turns and the feedback on the whole session.

``/experiments/{id}/sessions/{session_id}`` shows one session as a conversation: each turn's
user message and assistant answer (the trace's request and response), with that turn's
feedback and a link to the trace, and the session-level feedback above. A session id is
URL-encoded in the path; one that ends in ``.json`` asks for the JSON form. Long sessions
come a page of turns at a time.

Both answer as JSON at the same URL plus ``.json``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from assay.entities import Feedback, Session, Trace
from assay.errors import InvalidParameterError, NotFoundError
from assay.rules import session_target
from assay.search.unparse import quote_string
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.server.ui.assessment_forms import (
    DATA_TYPES,
    FormDep,
    form_name,
    form_source,
    parse_value,
    wants_json,
)
from assay.server.ui.chips import feedback_chips, session_chips
from assay.server.ui.templating import page, page_route
from assay.store.checks import MAX_KEY_CHARS

__all__ = ["conversation_text", "router"]

router = RouteTable()

#: Sessions per page of the list, turns per page of a session.
SESSIONS_PER_PAGE = 50
TURNS_PER_PAGE = 100
_FIRST_QUESTION_CHARS = 160
_MAX_TOKEN_CHARS = 4096


@page_route(router, "/experiments/{experiment_id}/sessions", action=Action.READ)
def sessions_page(request: Request, experiment_id: str, store: StoreDep,
                  page_token: Annotated[str | None, Query(alias="page")] = None) -> Response:
    """The sessions of an experiment, the most recently active first."""
    experiment = store.get_experiment(experiment_id)
    eid = experiment.experiment_id
    found = store.search_sessions([eid], max_results=SESSIONS_PER_PAGE,
                                  page_token=_token(page_token), include_spans=False)
    base = f"/experiments/{quote(eid, safe='')}/sessions"
    context = {
        "experiment": {"experiment_id": eid, "name": experiment.name,
                       "url": f"/experiments/{quote(eid, safe='')}"},
        "sessions": [_session_row(eid, s) for s in found],
        "next_page_token": found.token,
        "next_url": f"{base}?{urlencode({'page': found.token})}" if found.token else None,
        "first_url": base if page_token else None,
    }
    return page(request, "sessions/list.html", context)


def _session_page(request: Request, experiment_id: str, session_id: str, store: StoreDep,
                  page_token: Annotated[str | None, Query(alias="page")] = None,
                  from_turn: Annotated[int, Query(ge=0)] = 0) -> Response:
    """One session, turn by turn; a later page numbers its turns from ``from_turn``."""
    experiment = store.get_experiment(experiment_id)
    eid = experiment.experiment_id
    if not session_id:
        raise NotFoundError(f"No session id in the URL; see the sessions of experiment {eid}")
    found = store.search_traces([eid], max_results=TURNS_PER_PAGE,
                                page_token=_token(page_token), include_spans=False,
                                filter_string=f"trace.session_id = {quote_string(session_id)}",
                                order_by=["timestamp_ms ASC"])
    if not found and page_token is None:
        raise NotFoundError(f"Session {session_id!r} not found in experiment {eid}")
    turns = list(found)
    base = session_url(eid, session_id)
    offset = from_turn if page_token else 0
    users = sorted({t.info.user_id for t in turns if t.info.user_id})
    tokens = [t.info.token_usage.get("total_tokens", 0) for t in turns if t.info.token_usage]
    context = {
        "experiment": {"experiment_id": eid, "name": experiment.name,
                       "url": f"/experiments/{quote(eid, safe='')}"},
        "session": {
            "session_id": session_id,
            "url": base,
            "user_ids": users,
            "num_turns": len(turns) + offset,
            "has_more": found.token is not None,
            "first_ms": turns[0].info.request_time if turns else None,
            "last_ms": _end_ms(turns[-1]) if turns else None,
            "total_tokens": sum(tokens) if tokens else None,
            "feedback": session_chips([a for t in turns for a in t.info.assessments],
                                      session_id),
            "traces_url": f"/experiments/{quote(eid, safe='')}?"
                          + urlencode({"session": session_id}),
            "feedback_url": f"/experiments/{quote(eid, safe='')}/session-feedback",
        },
        "_data_types": DATA_TYPES,
        "turns": [_turn(t, offset + i + 1) for i, t in enumerate(turns)],
        "next_page_token": found.token,
        "next_url": (f"{base}?{urlencode({'page': found.token, 'from_turn': offset + len(turns)})}"
                     if found.token else None),
        "first_url": base if page_token else None,
    }
    return page(request, "sessions/detail.html", context)


# The session id may hold any character, "/" included (URL-encoded), so its routes take the
# rest of the path; the ".json" one comes first, or the other would take its suffix as part
# of the id.
for _path in ("/experiments/{experiment_id}/sessions/{session_id:path}.json",
              "/experiments/{experiment_id}/sessions/{session_id:path}"):
    router.add_api_route(_path, _session_page, methods=["GET"], include_in_schema=False,
                         openapi_extra=needs(Action.READ))


@router.post("/experiments/{experiment_id}/session-feedback", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
def add_session_feedback(experiment_id: str, request: Request, form: FormDep,
                         store: StoreDep) -> Response:
    """Feedback on a whole conversation from the session page's form (the session id is a
    form field: it may hold any character). Stored as the SDK's
    ``log_feedback(session_id=...)`` stores it: on the session's first trace, with the
    session in its metadata, so every turn lists it."""
    experiment = store.get_experiment(experiment_id)
    session_id = form.get("session_id", "")
    eid = experiment.experiment_id
    # Back to the session's page; to the list when the id cannot name a session (the page's
    # address would hold all of it).
    back = (session_url(eid, session_id) if 0 < len(session_id) <= MAX_KEY_CHARS
            else f"/experiments/{quote(eid, safe='')}/sessions")
    try:
        if not 0 < len(session_id) <= MAX_KEY_CHARS:
            raise InvalidParameterError(
                f"Invalid session_id: expected 1 to {MAX_KEY_CHARS} characters, got "
                f"{len(session_id):,}")
        name = form_name(form, "conversation_rating")
        value = parse_value(form.get("data_type", "number"), form.get("value", ""))
        trace_id, metadata = session_target(None, session_id, None,
                                            store.find_session_trace_id)
        logged = store.log_assessment(Feedback(
            name=name, value=value, trace_id=trace_id, source=form_source(request, form),
            rationale=form.get("rationale", "").strip() or None, metadata=metadata))
    except (InvalidParameterError, NotFoundError) as exc:
        if wants_json(request):
            raise
        return RedirectResponse(f"{back}?{urlencode({'flash': exc.message, 'flash_kind': 'error'})}"
                                "#session-feedback-form", status_code=303)
    message = f"Session feedback {logged.name!r} added"
    if wants_json(request):
        return JSONResponse({"message": message, "assessment": logged.to_dictionary()})
    return RedirectResponse(f"{back}?{urlencode({'flash': message})}", status_code=303)


def session_url(experiment_id: str, session_id: str) -> str:
    """The page of a session."""
    return (f"/experiments/{quote(experiment_id, safe='')}/sessions/"
            f"{quote(session_id, safe='')}")


# -- rows ----------------------------------------------------------------------------------

def _session_row(experiment_id: str, session: Session) -> dict[str, Any]:
    """One session of the list: who, how long, what it started with, and its feedback.

    The counts are over the session's turns as the store returned them (a page holds at
    most SESSIONS_PER_PAGE sessions): valid trace-level feedback; true/false values count as
    positive or negative whatever their name."""
    traces = session.traces
    assessments = [a for t in traces for a in t.info.assessments]
    own = [a for a in assessments if a.valid and a.kind == "feedback" and a.session_id is None]
    first = traces[0].info if traces else None
    return {
        "session_id": session.id,
        "url": session_url(experiment_id, session.id),
        "user_ids": sorted({t.info.user_id for t in traces if t.info.user_id}),
        "num_turns": len(traces),
        "first_ms": first.request_time if first else None,
        "last_ms": _end_ms(traces[-1]) if traces else None,
        "length_ms": (_end_ms(traces[-1]) - first.request_time) if first else None,
        "first_question": _clip(_question(first.request_preview if first else None),
                                _FIRST_QUESTION_CHARS),
        "num_errors": sum(1 for t in traces if str(t.info.state) == "ERROR"),
        "num_turns_with_feedback": len({a.trace_id for a in own}),
        "positive": sum(1 for a in own if a.value is True),
        "negative": sum(1 for a in own if a.value is False),
        "feedback": session_chips(assessments, session.id),
    }


def _turn(trace: Trace, number: int) -> dict[str, Any]:
    info = trace.info
    return {
        "number": number,
        "trace_id": info.trace_id,
        "url": f"/traces/{quote(info.trace_id, safe='')}",
        "time_ms": info.request_time,
        "duration_ms": info.execution_duration,
        "state": str(info.state),
        "user_id": info.user_id,
        "request": conversation_text(info.request_preview),
        "response": conversation_text(info.response_preview),
        "feedback": feedback_chips(info.assessments),
    }


def conversation_text(preview: str | None) -> dict[str, Any] | None:
    """A request or response preview as the conversation shows it.

    ``{"kind": "text", "text": ...}`` for plain text (a chat's message, as the previews
    keep it); ``{"kind": "messages", "messages": [{"role", "content"}]}`` for a list of
    chat messages; ``{"kind": "json", "text": <indented JSON>}`` for other JSON. ``cut``
    says whether the preview was shortened (the trace has the whole text).
    """
    if preview is None:
        return None
    cut = preview.endswith("...")
    stripped = preview.strip()
    if stripped[:1] in ("{", "[") and not cut:
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if value is not None:
            messages = _messages(value)
            if messages is not None:
                return {"kind": "messages", "messages": messages, "cut": False}
            return {"kind": "json", "text": json.dumps(value, indent=2, ensure_ascii=False),
                    "cut": False}
    return {"kind": "text", "text": preview, "cut": cut}


def _question(preview: str | None) -> str | None:
    """What a turn asked, as one line: the last user message of a list of messages, the
    preview itself otherwise."""
    content = conversation_text(preview)
    if content is None or content["kind"] != "messages":
        return preview
    asked = [m["content"] for m in content["messages"] if m["role"] == "user"]
    return asked[-1] if asked else preview


def _messages(value: Any) -> list[dict[str, str]] | None:
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if not isinstance(value, list) or not value or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in value):
        return None
    out = []
    for message in value:
        content = message.get("content")
        if isinstance(content, list):  # content parts: their text
            content = " ".join(p["text"] for p in content
                               if isinstance(p, dict) and isinstance(p.get("text"), str))
        out.append({"role": message["role"],
                    "content": content if isinstance(content, str)
                    else json.dumps(content, ensure_ascii=False)})
    return out


def _end_ms(trace: Trace) -> int:
    return trace.info.request_time + (trace.info.execution_duration or 0)


def _clip(text: str | None, chars: int) -> str | None:
    if text is None or len(text) <= chars:
        return text
    return text[: chars - 1].rstrip() + "\u2026"


def _token(page_token: str | None) -> str | None:
    if page_token is None or not page_token.strip():
        return None
    if len(page_token) > _MAX_TOKEN_CHARS:
        raise InvalidParameterError("Invalid page: pass the link of the previous page")
    return page_token.strip()
