"""The review app: where experts answer a labeling session's questions, item by item, at
``/review`` (a session's ``url`` is ``/review/<run_id>``).

``pages.py`` holds the routes; ``reviewer.py`` who reviews and what they may open;
``questions.py`` the form (a control per label schema input, and the answers read back);
``conversation.py`` the trace as a conversation. The templates are in
``templates/review/``; ``static/review.js`` adds the keyboard and the in-place next item.
"""

from __future__ import annotations

from fastapi import APIRouter

from assay.server.review import pages

__all__ = ["build_review_router"]


def build_review_router() -> APIRouter:
    """The review app's routes."""
    return pages.router
