"""The web UI's templating: one Jinja2 environment and :func:`page`, which answers a page as
HTML, or the same context as JSON when the path ends in ``.json`` (Datasette style).

A page's context is built from plain dicts, lists, strings and numbers, never entities, so
the JSON form is exactly what the template was given. ``request``, ``user`` and
``csrf_token`` are added to every context (and left out of the JSON form).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from assay.server.permissions import Action, needs

__all__ = [
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "environment",
    "format_duration",
    "format_number",
    "format_relative",
    "format_time",
    "is_json_request",
    "page",
    "page_route",
    "pretty_json",
    "request_context",
]

#: Where the UI's templates live.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Where the UI's stylesheets and scripts live (served at ``/static``).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

#: Context keys every page gets that are not data (so not in the ``.json`` form).
_REQUEST_KEYS = ("request", "user", "user_name", "csrf_token", "flash", "flash_error")


def _utc(ms: int | float | None) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def format_time(ms: int | float | None) -> str:
    """A timestamp in milliseconds as UTC: ``2026-05-04 13:02:11 UTC``; ``""`` for None."""
    when = _utc(ms)
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_iso(ms: int | float | None) -> str:
    """A timestamp in milliseconds as ISO 8601 UTC with milliseconds; ``""`` for None."""
    when = _utc(ms)
    return "" if when is None else when.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def format_relative(ms: int | float | None, now_ms: int | float | None = None) -> str:
    """How long ago a timestamp in milliseconds was: ``just now``, ``5 min ago``,
    ``3 h ago``, ``2 days ago``; past a month, the date."""
    if ms is None:
        return ""
    now = dt.datetime.now(tz=dt.UTC).timestamp() * 1000 if now_ms is None else now_ms
    seconds = (now - ms) / 1000
    if seconds < 0:
        return "in the future" if seconds < -60 else "just now"
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86_400:
        return f"{round(seconds / 3600)} h ago"
    days = round(seconds / 86_400)
    if days < 31:
        return "1 day ago" if days == 1 else f"{days} days ago"
    when = _utc(ms)
    assert when is not None
    return when.strftime("%Y-%m-%d")


def format_duration(ms: int | float | None) -> str:
    """A duration in milliseconds, short: ``850 ms``, ``1.24 s``, ``2 min 05 s``; ``""`` for
    None."""
    if ms is None:
        return ""
    if ms < 1:
        return f"{ms:.2f} ms" if ms else "0 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_number(value: int | float | None, digits: int = 2) -> str:
    """A number for reading: thousands separated, floats to ``digits`` decimals without
    trailing zeros; ``""`` for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    text = f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def format_percent(value: float | None, digits: int = 0) -> str:
    """A ratio (0 to 1) as a percentage: ``42%``; ``""`` for None."""
    if value is None:
        return ""
    return f"{value * 100:.{digits}f}%"


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON (strings that hold JSON are decoded first)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


_THUMB = ('<svg class="thumb{cls}" viewBox="0 0 16 16" width="12" height="12" '
          'aria-hidden="true" focusable="false"><path fill="currentColor" d="M1.5 7h2.6v7.5H1.5z'
          'M5.3 14.5V7.2l3.1-5.4c1 0 1.7.7 1.7 1.7v2.7h3.4c1 0 1.7.9 1.5 1.9l-1.3 5.1c-.2.8-.9 '
          '1.3-1.7 1.3z"/></svg>')
_DASH = Markup('<span class="muted">\u2014</span>')


def thumb_icon(up: bool) -> Markup:
    """A thumbs-up (or down) icon, inline SVG."""
    return Markup(_THUMB.format(cls="" if up else " thumb-down"))


def time_tag(ms: int | float | None) -> Markup:
    """A ``<time>``: relative, with the exact UTC time on hover."""
    if ms is None:
        return _DASH
    return Markup(f'<time datetime="{format_iso(ms)}" title="{format_time(ms)}">'
                  f"{escape(format_relative(ms))}</time>")


def id_tag(text: str | None, short: int = 0, head: bool = False) -> Markup:
    """An identifier in monospace with the whole id on hover; ``short`` cuts it, keeping
    its end (trace ids share their time-ordered start) or, with ``head``, its start."""
    if not text:
        return _DASH
    shown = text
    if short and len(text) > short:
        if head:
            shown = text[:short] + "\u2026"
        elif text.startswith("tr-"):
            shown = "tr-\u2026" + text[-(short - 4):]
        else:
            shown = "\u2026" + text[-(short - 1):]
    return Markup(f'<code class="id" title="{escape(text)}">{escape(shown)}</code>')


def chip_tag(text: str, kind: str = "neutral", title: str = "") -> Markup:
    """A small label; ``kind`` picks the colour: good, bad, warn, info, neutral."""
    hover = f' title="{escape(title)}"' if title else ""
    return Markup(f'<span class="chip chip-{escape(kind)}"{hover}>{escape(text)}</span>')


def state_tag(value: str | None) -> Markup:
    """A trace state as a chip."""
    if value == "OK":
        return chip_tag("OK", "good")
    if value == "ERROR":
        return chip_tag("Error", "bad")
    return chip_tag(value.replace("_", " ").lower(), "warn") if value else Markup("")


def value_tag(value: Any, error: str | None = None) -> Markup:
    """An assessment value: a thumbs chip for booleans, the number, the text, or compact
    JSON; an error chip when there is no value."""
    if error:
        return chip_tag("error", "warn", error)
    if value is True or value is False:
        word = "yes" if value else "no"
        return Markup(f'<span class="chip chip-{"good" if value else "bad"} chip-bool" '
                      f'title="{"true" if value else "false"}">{thumb_icon(value)}'
                      f'<span class="bool-word">{word}</span></span>')
    if value is None:
        return _DASH
    if isinstance(value, int | float):
        return Markup(f'<span class="num">{escape(format_number(value))}</span>')
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:79] + "\u2026"
        return Markup(f'<span class="val-text" title="{escape(value)}">{escape(shown)}</span>')
    text = _compact_json(value)
    shown = text if len(text) <= 80 else text[:79] + "\u2026"
    return Markup(f'<code class="val-json" title="{escape(text)}">{escape(shown)}</code>')


def _breakable(text: str) -> Markup:
    # Long snake_case names in narrow headers: allow a line break after _ . - and /.
    escaped = str(escape(text))
    for mark in ("_", ".", "-", "/"):
        escaped = escaped.replace(mark, mark + "<wbr>")
    return Markup(escaped)


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _tojson_attr(value: Any) -> Markup:
    # For data-* attributes: autoescaping turns the quotes into entities, which the browser
    # turns back; Markup keeps Jinja from escaping twice.
    return Markup(escape(_compact_json(value)))


@cache
def environment() -> Environment:
    """The UI's Jinja2 environment (autoescaping on, undefined names are errors)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Callable[..., Any]] = {
        "time": format_time,
        "iso": format_iso,
        "relative": format_relative,
        "duration": format_duration,
        "number": format_number,
        "percent": format_percent,
        "pretty_json": pretty_json,
        "compact_json": _compact_json,
        "json_attr": _tojson_attr,
        "breakable": _breakable,
        "time_tag": time_tag,
        "id_tag": id_tag,
        "state_tag": state_tag,
        "value_tag": value_tag,
        "thumb_icon": thumb_icon,
    }
    env.filters.update(filters)
    return env


def is_json_request(request: Request) -> bool:
    """Whether the request asks for a page's JSON form (its path ends in ``.json``)."""
    return request.url.path.endswith(".json")


def _jsonable(context: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if k not in _REQUEST_KEYS and not k.startswith("_")}


def _user_name(user: Any) -> str:
    if user is None:
        return ""
    for attribute in ("name", "username", "email"):
        value = getattr(user, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(user)


def page(request: Request, template: str, context: dict[str, Any], *,
         status: int = 200) -> Response:
    """Answer a page: ``template`` rendered with ``context``, or the context as JSON when
    the request path ends in ``.json``.

    ``request``, ``user`` (``request.state.user``, set by the auth middleware when auth is
    on), ``csrf_token`` (``request.state.csrf_token``) and ``flash`` (a one-line message
    from the ``flash`` query parameter, set by the form routes' redirects) are added to the
    template's context. Keys that start with ``_`` are for the template only.
    """
    if is_json_request(request):
        return JSONResponse(_jsonable(context), status_code=status)
    html = environment().get_template(template).render(
        {**request_context(request), **context})
    return HTMLResponse(html, status_code=status)


def request_context(request: Request) -> dict[str, Any]:
    """What every template gets besides its data: ``request``, ``user``, ``user_name``,
    ``csrf_token`` and ``flash`` (a one-line message from the ``flash`` query parameter,
    which the form routes' redirects set; ``flash_error`` says it reports a failure)."""
    user = getattr(request.state, "user", None)
    return {
        "request": request,
        "user": user,
        "user_name": _user_name(user),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "flash": request.query_params.get("flash", "")[:300],
        "flash_error": request.query_params.get("flash_kind") == "error",
    }


def page_route(router: APIRouter, path: str, *, action: Action,
               **kwargs: Any) -> Callable[[Any], Any]:
    """Register a GET page route for ``path`` and ``path + ".json"`` (``/`` gets
    ``/.json``), both needing ``action`` (:mod:`assay.server.permissions`)."""

    def register(handler: Any) -> Any:
        # The .json route first: ``/traces/{trace_id}`` would also match ``/traces/x.json``.
        json_path = "/.json" if path == "/" else path + ".json"
        for route_path in (json_path, path):
            router.add_api_route(route_path, handler, methods=["GET"],
                                 include_in_schema=False, openapi_extra=needs(action),
                                 **kwargs)
        return handler

    return register
