"""``POST /api/v1/traces/{trace_id}/feedback-tokens``: issue a feedback token for a trace.

The app's backend (or the SDK's REST store, for ``assay.create_feedback_token``) asks for a
token and hands it to the end user's page, which votes with it at ``POST /api/v1/feedback``.
The server signs it with its own key, kept in the database; the trace need not be stored yet.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from assay.entities._checks import MAX_ID_CHARS
from assay.entities.assessment import MAX_NAME_CHARS
from assay.feedback_tokens import MAX_EXPIRES_IN_SECONDS, MAX_NAMES, unverified_claims
from assay.server.api.common import RequestModel
from assay.server.deps import StoreDep
from assay.server.errors import ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

router = RouteTable(prefix="/traces/{trace_id}", tags=["feedback"], responses=ERROR_RESPONSES)


# A feedback name: 1 to 250 characters, not all of them whitespace.
FeedbackName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"\S")]


class CreateFeedbackTokenRequest(RequestModel):
    names: list[FeedbackName] | None = Field(
        default=None, min_length=1, max_length=MAX_NAMES,
        description="The feedback names the token allows (a non-empty list); null allows any "
                    "name")
    end_user_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID_CHARS,
        description="The end user, as the app knows them; their second vote on a name "
                    "replaces the first. Null: the token stands for one anonymous user")
    expires_in: float = Field(
        default=3600, gt=0, le=MAX_EXPIRES_IN_SECONDS,
        description=f"Seconds until the token expires (more than 0, at most "
                    f"{MAX_EXPIRES_IN_SECONDS:,}: 30 days)")


class FeedbackTokenResponse(BaseModel):
    token: str = Field(description="The token, to be sent with each vote")
    expires_at_ms: int = Field(description="When it expires, in milliseconds since the epoch")


@router.post("/feedback-tokens", response_model=FeedbackTokenResponse,
             openapi_extra=needs(Action.WRITE))
def create_feedback_token(trace_id: str, body: CreateFeedbackTokenRequest,
                          store: StoreDep) -> FeedbackTokenResponse:
    """Issue a signed, expiring token that lets an end user's browser vote on this trace.

    400 for a trace id not of the form `tr-` and 32 hex digits, or an argument out of range.
    """
    token = store.create_feedback_token(trace_id, body.names, body.end_user_id,
                                        body.expires_in)
    return FeedbackTokenResponse(token=token,
                                 expires_at_ms=unverified_claims(token).expires_at_ms)
