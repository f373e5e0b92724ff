"""The experiment's Labeling tab: label schemas and labeling sessions, and their forms.

``/experiments/{eid}/labeling`` lists the experiment's label schemas (each with a preview of
the control a reviewer answers with) and its sessions (with their progress), and holds the
forms that create both. ``/experiments/{eid}/labeling/schemas/{schema_id}`` edits a schema.
Pages need *read*, forms *write*. A form that is refused is shown again with what was typed
and the message at its field (400); nothing is written. The schema forms have a *Preview*
button that shows the control without saving (it works without JavaScript).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from assay.entities.label_schema import (
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    LabelInput,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import MAX_REVIEWERS, LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.server.deps import StoreDep
from assay.server.permissions import Action, needs
from assay.server.review.questions import question_context
from assay.server.route_tables import RouteTable
from assay.server.ui.form_posts import read_pairs, source_name
from assay.server.ui.labeling_session import session_url
from assay.server.ui.templating import page, page_route
from assay.store.base import Store

__all__ = ["INPUT_KINDS", "router", "schema_input"]

router = RouteTable()

#: The input kinds the schema form offers, and how each is described.
INPUT_KINDS: dict[str, str] = {
    "pass_fail": "Pass / fail",
    "categorical": "Categories (one, or several)",
    "categorical_list": "Checklist (any of the options)",
    "numeric": "Number (a rating)",
    "text": "Text",
    "text_list": "List of texts (one per line)",
}
#: The schema form's fields, with what an empty form holds.
SCHEMA_FIELDS: dict[str, str] = {
    "name": "", "type": "feedback", "title": "", "instruction": "", "enable_comment": "",
    "kind": "pass_fail", "options": "", "multi_select": "", "positive_label": "Pass",
    "negative_label": "Fail", "min_value": "", "max_value": "", "max_length": "",
    "max_length_each": "", "max_count": "",
}
SESSION_FIELDS: dict[str, str] = {
    "name": "", "assigned_users": "", "reviewers_per_item": "1", "instructions": "",
}
_SCHEMAS_SHOWN = 200
_FIELD = re.compile(r"Invalid (?:input\.\w+: )?(?:unknown field )?'?([a-z_]+)")


def _base(experiment_id: str) -> str:
    return f"/experiments/{quote(experiment_id, safe='')}/labeling"


@page_route(router, "/experiments/{experiment_id}/labeling", action=Action.READ)
def labeling_page(request: Request, experiment_id: str, store: StoreDep) -> Response:
    """The Labeling tab: schemas, sessions, and the forms that create them."""
    return page(request, "labeling/index.html", _context(store, experiment_id))


def _context(store: Store, experiment_id: str, *,
             schema_form: Mapping[str, Any] | None = None,
             session_form: Mapping[str, Any] | None = None) -> dict[str, Any]:
    experiment = store.get_experiment(experiment_id)
    base = _base(experiment_id)
    schemas = list(store.list_label_schemas(experiment_id, max_results=_SCHEMAS_SHOWN))
    sessions = []
    for info in store.list_labeling_sessions([experiment_id]):
        progress = store.get_labeling_progress(info.run_id)
        sessions.append({
            "run_id": info.run_id, "name": info.name, "url": session_url(experiment_id,
                                                                          info.run_id),
            "review_url": f"/review/{quote(info.run_id, safe='')}",
            "label_schemas": list(info.label_schemas),
            "assigned_users": list(info.assigned_users),
            "reviewers_per_item": info.reviewers_per_item,
            "created_at": info.created_at, "created_by": info.created_by,
            "num_items": progress.items, "done_items": progress.done_items,
            "fraction_done": progress.fraction_done,
        })
    return {
        "experiment": {"experiment_id": experiment_id, "name": experiment.name,
                       "url": f"/experiments/{quote(experiment_id, safe='')}"},
        "schemas": [_schema_row(s, base) for s in schemas],
        "sessions": sessions,
        "kinds": INPUT_KINDS,
        "schema_form": schema_form or {"fields": dict(SCHEMA_FIELDS), "errors": {},
                                       "editing": False, "preview": None,
                                       "action": f"{base}/schemas"},
        "session_form": session_form or {"fields": dict(SESSION_FIELDS), "errors": {},
                                         "schemas": [], "action": f"{base}/sessions"},
    }


def _schema_row(schema: LabelSchema, base: str) -> dict[str, Any]:
    return {
        "schema_id": schema.schema_id, "name": schema.name, "title": schema.question,
        "type": schema.type.value, "kind": schema.input.kind,
        "accepts": schema.accepts(), "instruction": schema.instruction,
        "enable_comment": schema.enable_comment,
        "url": f"{base}/schemas/{quote(schema.schema_id, safe='')}",
        "preview": question_context(0, schema.name, schema),
    }


# -- reading the schema form -----------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _number(fields: Mapping[str, str], key: str, *, whole: bool) -> Any:
    raw = fields.get(key, "").strip()
    if not raw:
        return None
    try:
        return int(raw) if whole or re.fullmatch(r"[+-]?\d{1,30}", raw) else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise InvalidParameterError(f"Invalid {key} {raw[:30]!r}: expected {kind}") from None


def schema_input(fields: Mapping[str, str]) -> LabelInput:
    """The input the schema form describes; InvalidParameterError naming the field."""
    kind = fields.get("kind", "")
    if kind == "pass_fail":
        return InputPassFail(positive_label=fields.get("positive_label", "").strip(),
                             negative_label=fields.get("negative_label", "").strip())
    if kind == "categorical":
        return InputCategorical(_lines(fields.get("options", "")),
                                multi_select=bool(fields.get("multi_select")))
    if kind == "categorical_list":
        return InputCategoricalList(_lines(fields.get("options", "")))
    if kind == "numeric":
        return InputNumeric(min_value=_number(fields, "min_value", whole=False),
                            max_value=_number(fields, "max_value", whole=False))
    if kind == "text":
        return InputText(max_length=_number(fields, "max_length", whole=True))
    if kind == "text_list":
        return InputTextList(max_length_each=_number(fields, "max_length_each", whole=True),
                             max_count=_number(fields, "max_count", whole=True))
    raise InvalidParameterError(
        f"Invalid kind {kind[:30]!r}: expected one of {', '.join(INPUT_KINDS)}")


def _schema_from_form(fields: Mapping[str, str], experiment_id: str) -> LabelSchema:
    return LabelSchema(
        name=fields.get("name", "").strip(), type=LabelSchemaType.parse(fields.get("type", "")),
        input=schema_input(fields), title=fields.get("title", "").strip() or None,
        instruction=fields.get("instruction", "").strip() or None,
        enable_comment=bool(fields.get("enable_comment")), experiment_id=experiment_id)


def _field_of(message: str, known: Mapping[str, str]) -> str:
    """The form field an error message names (``form`` when none)."""
    match = _FIELD.match(message)
    if match:
        name = match.group(1)
        if name in ("options", "item") or message.startswith("Invalid options"):
            return "options"
        if name in known:
            return name
    return "form"


def _schema_form(values: Mapping[str, str], action: str, *, error: str | None = None,
                 preview: LabelSchema | None = None, editing: bool = False
                 ) -> dict[str, Any]:
    kept = {key: str(values.get(key, default))[:10_000] for key, default in SCHEMA_FIELDS.items()}
    return {"fields": kept, "action": action, "editing": editing,
            "errors": {} if error is None else {_field_of(error, SCHEMA_FIELDS): error},
            "preview": question_context(0, preview.name, preview) if preview else None}


@router.post("/experiments/{experiment_id}/labeling/schemas", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
async def create_schema(request: Request, experiment_id: str, store: StoreDep) -> Response:
    """Create a label schema (or, with ``preview``, show its control without saving)."""
    fields = dict(await read_pairs(request))
    return await run_in_threadpool(_create_schema, request, experiment_id, store, fields)


def _create_schema(request: Request, experiment_id: str, store: Store,
                   fields: dict[str, str]) -> Response:
    action = f"{_base(experiment_id)}/schemas"
    try:
        schema = _schema_from_form(fields, experiment_id)
        if "preview" in fields:
            form = _schema_form(fields, action, preview=schema)
            return page(request, "labeling/index.html",
                        _context(store, experiment_id, schema_form=form))
        store.create_label_schema(schema, created_by=source_name(request))
    except (InvalidParameterError, AlreadyExistsError) as exc:
        form = _schema_form(fields, action, error=exc.message)
        return page(request, "labeling/index.html",
                    _context(store, experiment_id, schema_form=form), status=400)
    return _back(experiment_id, f"Label schema {schema.name!r} created", "schemas")


def _back(experiment_id: str, message: str, anchor: str) -> Response:
    return RedirectResponse(f"{_base(experiment_id)}?{urlencode({'flash': message[:300]})}"
                            f"#{anchor}", status_code=303)


# -- editing a schema ------------------------------------------------------------------------

def _values_of(schema: LabelSchema) -> dict[str, str]:
    values = dict(SCHEMA_FIELDS)
    values.update({"name": schema.name, "type": schema.type.value, "title": schema.title or "",
                   "instruction": schema.instruction or "",
                   "enable_comment": "1" if schema.enable_comment else "",
                   "kind": schema.input.kind})
    for key, value in schema.input.parameters().items():
        if key == "options":
            values["options"] = "\n".join(value)
        elif isinstance(value, bool):
            values[key] = "1" if value else ""
        elif value is not None:
            values[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return values


def _schema_page(request: Request, store: Store, experiment_id: str, schema: LabelSchema,
                 form: dict[str, Any] | None = None, status: int = 200) -> Response:
    experiment = store.get_experiment(experiment_id)
    action = f"{_base(experiment_id)}/schemas/{quote(schema.schema_id, safe='')}"
    context = {
        "experiment": {"experiment_id": experiment_id, "name": experiment.name,
                       "url": f"/experiments/{quote(experiment_id, safe='')}",
                       "labeling_url": _base(experiment_id)},
        "schema": _schema_row(schema, _base(experiment_id)),
        "kinds": INPUT_KINDS,
        "schema_form": form or _schema_form(_values_of(schema), action, preview=schema,
                                            editing=True),
    }
    return page(request, "labeling/schema.html", context, status=status)


def _own_schema(store: Store, experiment_id: str, schema_id: str) -> LabelSchema:
    schema = store.get_label_schema(schema_id=schema_id)
    if schema.experiment_id != experiment_id:
        raise NotFoundError(f"Label schema {schema_id!r} not found in experiment "
                            f"{experiment_id!r}")
    return schema


@page_route(router, "/experiments/{experiment_id}/labeling/schemas/{schema_id}",
            action=Action.READ)
def schema_page(request: Request, experiment_id: str, schema_id: str,
                store: StoreDep) -> Response:
    """A label schema's edit form, with the control reviewers see."""
    return _schema_page(request, store, experiment_id,
                        _own_schema(store, experiment_id, schema_id))


@router.post("/experiments/{experiment_id}/labeling/schemas/{schema_id}",
             include_in_schema=False, openapi_extra=needs(Action.WRITE))
async def update_schema(request: Request, experiment_id: str, schema_id: str,
                        store: StoreDep) -> Response:
    """Change a schema's name, title, instruction, comment box, input, options or limits
    (its type stays). The store refuses a change that would leave answers invalid, naming
    the field, and the message is shown there."""
    fields = dict(await read_pairs(request))
    return await run_in_threadpool(_update_schema, request, experiment_id, schema_id, store,
                                   fields)


def _update_schema(request: Request, experiment_id: str, schema_id: str, store: Store,
                   fields: dict[str, str]) -> Response:
    schema = _own_schema(store, experiment_id, schema_id)
    action = f"{_base(experiment_id)}/schemas/{quote(schema_id, safe='')}"
    fields = {**fields, "type": schema.type.value,
              "kind": fields.get("kind", schema.input.kind)}
    try:
        changed = _schema_from_form(fields, experiment_id)
        if "preview" in fields:
            return _schema_page(request, store, experiment_id, schema,
                                _schema_form(fields, action, preview=changed, editing=True))
        store.update_label_schema(
            schema_id, name=changed.name, title=changed.title or "",
            instruction=changed.instruction or "", enable_comment=changed.enable_comment,
            input=changed.input)
    except (InvalidParameterError, AlreadyExistsError) as exc:
        return _schema_page(request, store, experiment_id, schema,
                            _schema_form(fields, action, error=exc.message, editing=True),
                            status=400)
    return _back(experiment_id, f"Label schema {changed.name!r} saved", "schemas")


# -- creating a session ----------------------------------------------------------------------

@router.post("/experiments/{experiment_id}/labeling/sessions", include_in_schema=False,
             openapi_extra=needs(Action.WRITE))
async def create_session(request: Request, experiment_id: str, store: StoreDep) -> Response:
    """Create a labeling session: ``name``, ``schema`` (repeated, in order),
    ``assigned_users`` (one a line), ``reviewers_per_item``, ``instructions``."""
    pairs = await read_pairs(request)
    return await run_in_threadpool(_create_session, request, experiment_id, store, pairs)


def _create_session(request: Request, experiment_id: str, store: Store,
                    pairs: list[tuple[str, str]]) -> Response:
    fields = dict(pairs)
    chosen = list(dict.fromkeys(v for k, v in pairs if k == "schema" and v))
    values = {key: str(fields.get(key, default))[:20_000]
              for key, default in SESSION_FIELDS.items()}
    try:
        name = fields.get("name", "").strip()
        if not name:
            raise InvalidParameterError("Invalid name: it is empty; name the session")
        raw = fields.get("reviewers_per_item", "").strip() or "1"
        if not re.fullmatch(r"\d{1,5}", raw):
            raise InvalidParameterError(
                f"Invalid reviewers_per_item {raw[:20]!r}: expected a whole number from 1 "
                f"to {MAX_REVIEWERS:,}")
        if not chosen:
            raise InvalidParameterError("Invalid schema: choose at least one question")
        info = store.create_labeling_session(LabelingSessionInfo(
            run_id=new_run_id(), experiment_id=experiment_id, name=name,
            label_schemas=tuple(chosen),
            assigned_users=tuple(dict.fromkeys(_lines(fields.get("assigned_users", "")))),
            reviewers_per_item=int(raw),
            instructions=fields.get("instructions", "").strip() or None,
            created_by=source_name(request)))
    except (InvalidParameterError, NotFoundError) as exc:
        field = _field_of(exc.message, {**SESSION_FIELDS, "schema": "",
                                        "label_schemas": ""})
        if field == "label_schemas" or isinstance(exc, NotFoundError) \
                or exc.message.startswith("Invalid schema"):
            field = "schema"
        if exc.message.startswith("Invalid assigned_users"):
            field = "assigned_users"
        form = {"fields": values, "schemas": chosen, "errors": {field: exc.message},
                "action": f"{_base(experiment_id)}/sessions"}
        return page(request, "labeling/index.html",
                    _context(store, experiment_id, session_form=form), status=400)
    url = session_url(experiment_id, info.run_id)
    return RedirectResponse(
        f"{url}?{urlencode({'flash': f'Session {name!r} created'[:300]})}", status_code=303)
