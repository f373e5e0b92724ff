"""The API reference at /docs: rendered from the server's own OpenAPI document, whole, with
nothing loaded from other sites."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assay.server.ui.api_docs import prose_html, type_html
from server.live import Served

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_every_operation_and_model_is_on_the_page(ui_server: Served) -> None:
    document = ui_server.http.get("/openapi.json").json()
    html = ui_server.http.get("/docs").text
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in html, (method, path)
            assert f'<code class="docs-path">{path}</code>' in html
    # Every model a type links to has its place on the page.
    linked = set(re.findall(r'href="#model-([A-Za-z0-9_]+)"', html))
    placed = set(re.findall(r'id="model-([A-Za-z0-9_]+)"', html))
    assert linked and linked <= placed
    # Assay answers 400, not FastAPI's 422: the page does not promise it.
    assert "HTTPValidationError" not in html
    assert ">422<" not in html


def test_the_page_loads_nothing_from_other_sites(ui_server: Served) -> None:
    html = ui_server.http.get("/docs").text
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert ui_server.http.get("/redoc").status_code == 404
    body = ui_server.http.get("/docs.json").json()
    assert {g["tag"] for g in body["groups"]} >= {"traces", "experiments", "users"}


def test_types_read_as_a_person_says_them() -> None:
    assert type_html({"type": "array", "items": {"$ref": "#/components/schemas/Span"}}) == (
        'array of <a href="#model-Span">Span</a>')
    assert type_html({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}) == (
        "integer (≥ 1) or null")
    assert type_html({"enum": ["a", "b"]}) == "<code>&#34;a&#34;</code> | <code>&#34;b&#34;</code>"
    assert type_html(None) == "any"
    assert prose_html("Errors are `{error_code}` <b>") == (
        "Errors are <code>{error_code}</code> &lt;b&gt;")
    assert prose_html("one ` tick") == "one ` tick"


def test_the_reference_in_a_browser(ui_server: Served, page: Page) -> None:
    from playwright.sync_api import expect

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{ui_server.url}/docs")
    expect(page.get_by_role("heading", name="Assay API reference")).to_be_visible()
    page.get_by_role("navigation", name="Operations").get_by_role(
        "link", name="PATCH /api/v1/users/{username}").click()
    assert page.url.endswith("#update_user_api_v1_users__username__patch")
    expect(page.locator("#update_user_api_v1_users__username__patch")).to_be_in_viewport()
    assert all(url.startswith(ui_server.url) for url in requests), requests
