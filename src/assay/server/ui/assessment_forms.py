"""The trace page's assessment forms: add, edit, override and delete, as plain HTML form
posts that work without JavaScript.

Each route answers a browser's form post with a 303 redirect back to the trace, carrying a
one-line ``flash`` message; a post that asks for JSON (the page's script does, sending the
CSRF token as ``X-CSRF-Token``) gets ``{"message", "assessment"}`` instead, and errors as the
API's ``{error_code, message}``. A bad value in the add form re-renders the trace page with
the message beside the form and what was typed kept.

Forms are ``application/x-www-form-urlencoded``, at most 1 MiB; every one carries the
``csrf_token`` field, which the auth middleware checks when auth is on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from assay.entities import Assessment, AssessmentSource, AssessmentSourceType, Expectation, Feedback
from assay.errors import InvalidParameterError
from assay.rules import change_assessment, override_feedback
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = [
    "DATA_TYPES",
    "FormDep",
    "create_assessment",
    "data_type_of",
    "done_response",
    "parse_value",
    "read_form",
    "router",
    "value_text",
    "wants_json",
]

router = RouteTable()

#: The data types the forms offer, and what each takes.
DATA_TYPES: dict[str, str] = {
    "boolean": "true or false (yes/no, 1/0 work too)",
    "number": "an integer or a decimal number",
    "string": "any text, a category or a comment",
    "json": "a JSON value: an object, a list, a number, a quoted string",
}
_MAX_FORM_BYTES = 1 << 20
_TRUE = ("true", "yes", "y", "1", "👍", "on", "pass")
_FALSE = ("false", "no", "n", "0", "👎", "off", "fail")
_FORM_TYPE = "application/x-www-form-urlencoded"
#: The source id of an assessment made in the UI when no one is logged in.
DEFAULT_SOURCE_ID = "web-ui"


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form post (the last value of a repeated field).

    Raises:
        InvalidParameterError: another content type, a body over 1 MiB, or bad encoding.
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
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidParameterError(f"Invalid form encoding: {exc}") from None
    return dict(pairs)


FormDep = Annotated[dict[str, str], Depends(read_form)]


def parse_value(data_type: str, text: str) -> Any:
    """The value typed into a form, as its data type says.

    Raises:
        InvalidParameterError: naming the value and what the type takes.
    """
    raw = text.strip()
    if data_type not in DATA_TYPES:
        raise InvalidParameterError(
            f"Invalid data type {data_type[:30]!r}: expected one of {', '.join(DATA_TYPES)}")
    if data_type == "string":
        if not text.strip():
            raise InvalidParameterError("Invalid value: it is empty; type the text")
        return text
    if not raw:
        raise InvalidParameterError(f"Invalid value: it is empty; expected "
                                    f"{DATA_TYPES[data_type]}")
    if data_type == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise InvalidParameterError(
            f"Invalid value {raw[:40]!r} for a boolean: expected true or false")
    if data_type == "number":
        try:
            number: int | float = int(raw)
        except ValueError:
            try:
                number = float(raw)
            except ValueError:
                raise InvalidParameterError(
                    f"Invalid value {raw[:40]!r} for a number: expected e.g. 4 or 0.75"
                ) from None
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidParameterError(f"Invalid value {raw[:40]!r}: expected a finite number")
        return number
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidParameterError(f"Invalid JSON value: {exc}") from None


def data_type_of(value: Any) -> str:
    """The form data type that shows ``value`` as it is."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"


def value_text(value: Any) -> str:
    """``value`` as the form's value field shows it (:func:`parse_value` reads it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def form_source(request: Request, form: Mapping[str, str]) -> AssessmentSource:
    """HUMAN, with the logged-in user's name, else the form's source id, else ``web-ui``."""
    user = getattr(request.state, "user", None)
    name = ""
    for attribute in ("username", "name"):
        found = getattr(user, attribute, None)
        if isinstance(found, str) and found:
            name = found
            break
    source_id = name or form.get("source_id", "").strip() or DEFAULT_SOURCE_ID
    return AssessmentSource(AssessmentSourceType.HUMAN, source_id)


def form_name(form: Mapping[str, str], example: str) -> str:
    """The form's assessment name, trimmed; InvalidParameterError when it is empty."""
    name = form.get("name", "").strip()
    if not name:
        raise InvalidParameterError(f"Invalid name: it is empty; name what is judged, e.g. "
                                    f"{example!r}")
    return name


def new_assessment(trace_id: str, form: Mapping[str, str],
                   source: AssessmentSource) -> Assessment:
    """The Feedback or Expectation the add form describes.

    Raises:
        InvalidParameterError: naming the field that is wrong.
    """
    kind = form.get("kind", "feedback")
    if kind not in ("feedback", "expectation"):
        raise InvalidParameterError(
            f"Invalid type {kind[:30]!r}: expected feedback or expectation")
    name = form_name(form, "correctness")
    value = parse_value(form.get("data_type", "string"), form.get("value", ""))
    rationale = form.get("rationale", "").strip() or None
    span_id = form.get("span_id", "").strip() or None
    if kind == "expectation":
        return Expectation(name=name, value=value, trace_id=trace_id, span_id=span_id,
                           source=source, metadata=_rationale_metadata(rationale))
    return Feedback(name=name, value=value, trace_id=trace_id, span_id=span_id,
                    source=source, rationale=rationale)


def _rationale_metadata(rationale: str | None) -> dict[str, str] | None:
    # Expectations have no rationale field (as in MLflow); a note is kept as metadata.
    return {"rationale": rationale} if rationale else None


def wants_json(request: Request) -> bool:
    """Whether the post came from the page's script, which asks for JSON."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def back_to_trace(request: Request, trace_id: str, message: str, *, error: bool = False,
                  span_id: str | None = None) -> Response:
    """303 to the trace page with a flash message (or JSON for the page's script)."""
    params = {"flash": message}
    if error:
        params["flash_kind"] = "error"
    if span_id:
        params["span"] = span_id
    url = f"/traces/{quote(trace_id, safe='')}?{urlencode(params)}#assessments"
    return RedirectResponse(url, status_code=303)


def done_response(request: Request, trace_id: str, message: str,
                  assessment: Assessment | None, span_id: str | None) -> Response:
    """The answer to a form post that worked: JSON for the script, else the redirect."""
    if wants_json(request):
        return JSONResponse({"message": message, "assessment":
                             assessment.to_dictionary() if assessment else None})
    return back_to_trace(request, trace_id, message, span_id=span_id)


def _kind_label(assessment: Assessment) -> str:
    return "Feedback" if assessment.kind == "feedback" else "Expectation"


def _failed(request: Request, trace_id: str, exc: InvalidParameterError,
            form: Mapping[str, str]) -> Response:
    # A browser's post goes back to the trace with the message; the script gets the error.
    if wants_json(request):
        raise exc
    return back_to_trace(request, trace_id, exc.message, error=True,
                         span_id=form.get("span") or None)


@router.post("/traces/{trace_id}/assessments/{assessment_id}/edit", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
def edit_assessment(trace_id: str, assessment_id: str, request: Request, form: FormDep,
                    store: StoreDep) -> Response:
    """Change an assessment's value and rationale in place."""
    try:
        return _edit(trace_id, assessment_id, request, form, store)
    except InvalidParameterError as exc:
        return _failed(request, trace_id, exc, form)


def _edit(trace_id: str, assessment_id: str, request: Request, form: Mapping[str, str],
          store: StoreDep) -> Response:
    value = parse_value(form.get("data_type", "string"), form.get("value", ""))
    changes: dict[str, Any] = {"value": value}
    rationale = form.get("rationale", "").strip()
    old = store.get_assessment(trace_id, assessment_id)
    if isinstance(old, Feedback):
        changes["rationale"] = rationale or None
    elif rationale:
        changes["metadata"] = {"rationale": rationale}
    changed = change_assessment(store, trace_id, assessment_id, changes)
    return done_response(request, trace_id, f"{_kind_label(changed)} {changed.name!r} updated",
                 changed, form.get("span") or None)


@router.post("/traces/{trace_id}/assessments/{assessment_id}/override",
             include_in_schema=False, openapi_extra=needs(Action.WRITE))
def override_assessment(trace_id: str, assessment_id: str, request: Request, form: FormDep,
                        store: StoreDep) -> Response:
    """Supersede a feedback with a corrected value; the old one stays in its history."""
    try:
        value = parse_value(form.get("data_type", "string"), form.get("value", ""))
        rationale = form.get("rationale", "").strip() or None
        new = override_feedback(store, trace_id, assessment_id, value, rationale,
                                form_source(request, form))
    except InvalidParameterError as exc:
        return _failed(request, trace_id, exc, form)
    return done_response(request, trace_id, f"Feedback {new.name!r} overridden", new,
                 form.get("span") or None)


@router.post("/traces/{trace_id}/assessments/{assessment_id}/delete",
             include_in_schema=False, openapi_extra=needs(Action.WRITE))
def delete_assessment(trace_id: str, assessment_id: str, request: Request, form: FormDep,
                      store: StoreDep) -> Response:
    """Delete an assessment; what it overrode becomes valid again."""
    old = store.get_assessment(trace_id, assessment_id)
    store.delete_assessment(trace_id, assessment_id)
    return done_response(request, trace_id, f"{_kind_label(old)} {old.name!r} deleted", None,
                 form.get("span") or None)


def create_assessment(request: Request, trace_id: str, form: Mapping[str, str],
                      store: StoreDep) -> tuple[Assessment, str]:
    """Log the assessment of the add form; the flash message that says so."""
    logged = store.log_assessment(new_assessment(trace_id, form, form_source(request, form)))
    return logged, f"{_kind_label(logged)} {logged.name!r} added"
