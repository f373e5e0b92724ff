"""Errors as pages: a browser that navigates to a missing trace gets a page that says so,
with the way back, rather than the JSON an API client gets.

:func:`error_page` is handed to :func:`assay.server.errors.install_error_handlers`, which
keeps the one mapping from error to status and code; this module only draws the result.
"""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from assay.server.ui.templating import environment, request_context

__all__ = ["error_page", "html_error", "wants_html"]

#: Paths that are never pages, whatever the client accepts.
_API_PREFIXES = ("/api/", "/v1/", "/static/", "/ajax-api/")
_API_PATHS = ("/health", "/version", "/openapi.json")

_TITLES = {
    400: "That request is not valid",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Already exists",
    503: "The database does not answer",
}


def wants_html(request: Request) -> bool:
    """Whether the error should be a page: a browser (it accepts ``text/html``) asking for a
    UI path, not the API's, and not a page's ``.json`` form."""
    path = request.url.path
    if path.endswith(".json") or path.startswith(_API_PREFIXES) or path in _API_PATHS:
        return False
    return "text/html" in request.headers.get("accept", "")


def html_error(request: Request, response: Response) -> Response:
    """The error page for the JSON error ``response`` (its status, code and message)."""
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        body = {}
    status = response.status_code
    message = str(body.get("message") or "Something went wrong")
    html = environment().get_template("error.html").render(
        **{**request_context(request), "flash": ""},
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        error_code=str(body.get("error_code") or ""),
        message=message,
    )
    answer = HTMLResponse(html, status_code=status)
    for name in ("www-authenticate", "allow", "retry-after"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


def error_page(request: Request, response: Response) -> Response:
    """The error page when a browser asks for a page, ``response`` itself otherwise."""
    return html_error(request, response) if wants_html(request) else response
