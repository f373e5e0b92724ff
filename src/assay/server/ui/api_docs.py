"""The API reference at ``/docs``: the server's own OpenAPI document as a page, rendered here,
so that it reads offline and loads nothing from other sites (the interactive viewers
FastAPI offers fetch their scripts from a CDN, and so are turned off).

Operations are grouped by tag, each with its parameters, its request body's fields, its
answers and a ``curl`` line; the models they name are listed below them, linked from every
mention. ``/openapi.json`` stays the machine-readable form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from assay.server.permissions import Action
from assay.server.route_tables import RouteTable
from assay.server.ui.templating import page, page_route

__all__ = ["api_reference", "prose_html", "router", "type_html"]

router = RouteTable()

_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/"
# FastAPI's stock answer for a body that fails validation: Assay answers 400 instead (see
# assay.server.errors), so the reference leaves it out rather than promise it.
_HIDDEN_STATUSES = frozenset({"422"})
_HIDDEN_MODELS = frozenset({"HTTPValidationError", "ValidationError"})


@page_route(router, "/docs", action=Action.READ)
def docs_page(request: Request) -> Response:
    """Every operation of the JSON API, from the server's OpenAPI document."""
    document = request.app.openapi()
    return page(request, "api_docs.html", api_reference(_frozen(document)))


def _frozen(document: dict[str, Any]) -> str:
    # The document as text: the key of the cached reference (the app builds it once).
    return json.dumps(document, sort_keys=True)


@cache
def api_reference(document_text: str) -> dict[str, Any]:
    """The page's content from the OpenAPI document (as JSON text): the operations by tag,
    and the models they use."""
    document = json.loads(document_text)
    schemas: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(_operation(method, path, operation, schemas))
    return {
        "title": document.get("info", {}).get("title", "API"),
        "version": document.get("info", {}).get("version", ""),
        "description": prose_html(document.get("info", {}).get("description", "")),
        "groups": [{"tag": tag, "operations": ops} for tag, ops in groups.items()],
        "models": [_model(name, schema) for name, schema in sorted(schemas.items())
                   if name not in _HIDDEN_MODELS],
    }


def _operation(method: str, path: str, operation: Mapping[str, Any],
               schemas: Mapping[str, Any]) -> dict[str, Any]:
    description = (operation.get("description") or "").strip()
    summary = operation.get("summary") or description.split("\n", 1)[0] or path
    body = operation.get("requestBody")
    body_info: dict[str, Any] | None = None
    if body:
        content = body.get("content", {})
        media = next(iter(content), "application/json")
        schema = content.get(media, {}).get("schema", {})
        body_info = {"media_type": media, "required": bool(body.get("required")),
                     "type": type_html(schema), "fields": _fields(_resolve(schema, schemas))}
    responses = []
    for status, answer in sorted(operation.get("responses", {}).items()):
        if status in _HIDDEN_STATUSES:
            continue
        content = answer.get("content", {})
        schema = next((c.get("schema") for c in content.values() if c.get("schema")), None)
        responses.append({"status": status, "description": answer.get("description", ""),
                          "type": type_html(schema) if schema else None})
    return {
        "id": operation.get("operationId") or f"{method}-{path}",
        "method": method.upper(),
        "path": path,
        "summary": summary,
        "description": prose_html(description),
        "parameters": [{
            "name": p.get("name", ""), "in": p.get("in", ""),
            "required": bool(p.get("required")),
            "type": type_html(p.get("schema", {})),
            "description": prose_html(p.get("description")
                                      or p.get("schema", {}).get("description", "")),
        } for p in operation.get("parameters", [])],
        "body": body_info,
        "responses": responses,
        "curl": _curl(method.upper(), path, body_info),
    }


def _model(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": prose_html(schema.get("description", "")),
            "fields": _fields(schema),
            "enum": [str(v) for v in schema.get("enum", [])]}


def _fields(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [{"name": name, "type": type_html(prop), "required": name in required,
             "description": prose_html(prop.get("description", "")),
             "default": (json.dumps(prop["default"]) if "default" in prop
                         and prop["default"] is not None else None)}
            for name, prop in schema.get("properties", {}).items()]


def prose_html(text: str) -> Markup:
    """A description as the document writes it, escaped, with ``code`` in backticks shown
    as code."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as written
        return Markup(escape(text))
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


def _resolve(schema: Mapping[str, Any], schemas: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith(_REF):
        resolved: Mapping[str, Any] = schemas.get(ref[len(_REF):], {})
        return resolved
    return schema


def type_html(schema: Mapping[str, Any] | None) -> Markup:
    """A schema's type as a reader says it (``string``, ``array of Span``, ``integer or
    null``), with each model named linked to its place on the page."""
    if not schema:
        return Markup("any")
    ref = schema.get("$ref", "")
    if ref.startswith(_REF):
        name = ref[len(_REF):]
        return Markup(f'<a href="#model-{escape(name)}">{escape(name)}</a>')
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            parts = [type_html(s) for s in schema[combined]]
            return Markup(" or ").join(dict.fromkeys(parts))
    if "enum" in schema:
        return Markup(" | ").join(Markup(f"<code>{escape(json.dumps(v))}</code>")
                                  for v in schema["enum"])
    if "const" in schema:
        return Markup(f"<code>{escape(json.dumps(schema['const']))}</code>")
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("array of ") + type_html(schema.get("items"))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("object of ") + type_html(schema["additionalProperties"])
    text = str(kind)
    if schema.get("format") in ("binary",):
        text = "bytes"
    bounds = [f"{word} {schema[key]}" for key, word in
              (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
               ("exclusiveMaximum", "<"), ("minLength", "length ≥"),
               ("maxLength", "length ≤")) if key in schema]
    if bounds:
        text += f" ({', '.join(bounds)})"
    return Markup(escape(text))


def _curl(method: str, path: str, body: Mapping[str, Any] | None) -> str:
    line = f"curl -X {method} \"$ASSAY_URL{path}\" -H \"Authorization: Bearer $ASSAY_API_KEY\""
    if body is not None:
        media = body["media_type"]
        example = "@body.json" if media == "application/json" else "@export.bin"
        line += f" \\\n  -H 'Content-Type: {media}' --data-binary {example}"
    return line
