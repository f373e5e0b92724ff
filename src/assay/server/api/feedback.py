"""``POST /api/v1/feedback``: an end user's vote, sent by their browser with a feedback token.

The app's backend issues the token (``POST /api/v1/traces/{trace_id}/feedback-tokens``, or
``assay.create_feedback_token``) and puts it in the page; the page posts the vote here with
no API key. The token says which trace, which names and which end user; a second vote by the
same end user on the same name replaces the first (see :mod:`assay.server.feedback_rules`).
A vote for a trace that has not arrived yet is kept until it does (202).

Each token may make ``feedback_rate_limit_per_minute`` requests a minute (429 with
``Retry-After`` beyond). CORS for this path is :mod:`assay.server.cors`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel, Field, JsonValue

from assay.feedback_tokens import (
    FEEDBACK_TOKEN_PURPOSE,
    FeedbackTokenError,
    FeedbackTokenScopeError,
    TokenClaims,
    verify_token,
)
from assay.server.api.common import RequestModel
from assay.server.deps import SettingsDep, StoreDep
from assay.server.errors import ERROR_RESPONSES, ErrorResponse
from assay.server.feedback_rules import cast_vote
from assay.server.limits import check_value_size
from assay.server.permissions import Action, needs
from assay.server.rate_limit import RateLimitedError, TokenBucketLimiter
from assay.server.route_tables import RouteTable
from assay.server.stats import CountersDep, ServerCounters
from assay.store.capabilities import SigningKeys

__all__ = ["FEEDBACK_PATH", "router"]

#: The path of the browser feedback endpoint (for the CORS middleware).
FEEDBACK_PATH = "/api/v1/feedback"

router = RouteTable(tags=["feedback"])


async def get_feedback_limiter(request: Request) -> TokenBucketLimiter:
    """The per-token rate limiter of the app serving the request."""
    limiter: TokenBucketLimiter = request.app.state.feedback_limiter
    return limiter


LimiterDep = Annotated[TokenBucketLimiter, Depends(get_feedback_limiter)]


class SubmitFeedbackRequest(RequestModel):
    token: str = Field(description="The feedback token the app's backend issued for the trace")
    name: str = Field(description="The feedback name, e.g. 'thumbs'; the token must allow it")
    value: JsonValue = Field(description="true/false, a number or a string (a vote need not "
                                         "have the type of the one it replaces)")
    rationale: str | None = Field(default=None,
                                  description="Why, e.g. the end user's comment (10,000 "
                                              "characters at most)")
    metadata: dict[str, str | int | float | bool] | None = Field(
        default=None, description="String keys; values are stored as strings")
    trace_id: str | None = Field(
        default=None, description="The trace the page means, if it says; it must be the "
                                  "token's (403 otherwise)")


class SubmitFeedbackResponse(BaseModel):
    assessment_id: str = Field(description="The id the vote has, and keeps once its trace "
                                            "arrives")
    trace_id: str = Field(description="The token's trace")
    pending: bool = Field(description="True when the trace has not arrived yet (202): the "
                                      "vote is kept and attached when it does")
    overrides: str | None = Field(default=None, description="The id of this end user's "
                                                            "earlier vote that this one "
                                                            "replaces")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    202: {"model": SubmitFeedbackResponse,
          "description": "Kept: the trace has not arrived yet"},
    401: {"model": ErrorResponse,
          "description": "The token is malformed, tampered with, or expired; the message "
                         "says which"},
    403: {"model": ErrorResponse,
          "description": "The token is for another trace, or the origin is not allowed"},
    429: {"model": ErrorResponse,
          "description": "The token's rate limit is used up; Retry-After says when to retry"},
}


@router.post("/feedback", status_code=201, response_model=SubmitFeedbackResponse,
             responses=_RESPONSES, openapi_extra=needs(Action.PUBLIC))
def submit_feedback(body: SubmitFeedbackRequest, response: Response, store: StoreDep,
                    settings: SettingsDep, counters: CountersDep,
                    limiter: LimiterDep) -> SubmitFeedbackResponse:
    """Record an end user's vote with a feedback token (no API key).

    201 when stored on the trace, 202 when the trace has not arrived yet (kept for
    `pending_feedback_ttl_seconds`). The voter is the token's end user (or the token
    itself); their second vote on the same name replaces the first, which stays as history
    with `valid: false`.
    """
    claims = _verified(store, body.token, counters)
    try:
        limiter.take(claims.token_id, "this feedback token")
    except RateLimitedError:
        counters.count_rate_limited()
        raise
    check_value_size("value", body.value, settings.max_attribute_bytes)
    try:
        vote, pending = cast_vote(store, claims, body.name, body.value, body.rationale,
                                  body.metadata, settings.pending_feedback_ttl_seconds,
                                  trace_id=body.trace_id)
    except FeedbackTokenScopeError:
        counters.count_token_refused()
        raise
    counters.count_token_accepted()
    if pending:
        response.status_code = 202
    assert vote.assessment_id is not None
    return SubmitFeedbackResponse(assessment_id=vote.assessment_id, trace_id=claims.trace_id,
                                  pending=pending, overrides=vote.overrides)


def _verified(store: SigningKeys, token: str, counters: ServerCounters) -> TokenClaims:
    try:
        return verify_token(store.signing_key(FEEDBACK_TOKEN_PURPOSE), token)
    except FeedbackTokenError:
        counters.count_token_refused()
        raise
