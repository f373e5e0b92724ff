"""Feedback that arrives before its trace, and end users' votes through a feedback token.

* :func:`log_or_keep` logs an assessment on its trace, or, when the trace is not stored (yet:
  apps export in the background, users click fast), keeps it pending until the trace comes;
  it keeps its id either way.
* :func:`cast_vote` records an end user's vote with a verified token: a HUMAN feedback whose
  source id is the end user (the token's ``end_user_id``, else the token itself). A second
  vote by the same end user on the same trace and name overrides the first, which stays,
  invalid, as history; this holds for pending votes too, and for votes sent at the same
  moment (the store takes them in turn: ``PendingAssessments.log_vote``). A vote's value
  need not have the type of the one it replaces (a thumbs up may become a comment).

The routes call these, never the store twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.entities import Assessment, AssessmentSource, AssessmentSourceType, Feedback
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from assay.feedback_tokens import FeedbackTokenScopeError, TokenClaims
from assay.store.base import Store
from assay.store.capabilities import ServerStore

__all__ = ["cast_vote", "log_or_keep"]


def log_or_keep(store: ServerStore, assessment: Assessment,
                pending_ttl_seconds: float) -> tuple[Assessment, bool]:
    """The assessment as stored, and whether it is pending (its trace not stored yet).

    Raises:
        InvalidParameterError: the trace is not stored and its id is not of Assay's form
            (a typo is an error, not feedback kept for nothing), and any bad field.
        NotFoundError: an assessment of a whole session on a trace that is not stored, or
            an ``overrides`` that names nothing.
    """
    try:
        return store.log_assessment(assessment), False
    except NotFoundError:
        if assessment.session_id is not None:
            raise  # a session's assessment needs the session's trace stored
        # Usually the trace has not arrived; if something else was missing, keeping it
        # below says so.
    trace_id = assessment.trace_id
    try:
        return store.keep_pending_assessment(assessment, pending_ttl_seconds), True
    except AlreadyExistsError:
        # The trace arrived meanwhile: log it after all. (Or the idempotency key belongs to
        # another trace's assessment, and the error stands.)
        if not _is_stored(store, trace_id or ""):
            raise
        return store.log_assessment(assessment), False


def _is_stored(store: Store, trace_id: str) -> bool:
    try:
        store.get_trace_info(trace_id)
    except NotFoundError:
        return False
    return True


def cast_vote(store: ServerStore, claims: TokenClaims, name: str, value: Any,
              rationale: str | None, metadata: Mapping[str, Any] | None,
              pending_ttl_seconds: float,
              trace_id: str | None = None) -> tuple[Feedback, bool]:
    """Record an end user's vote allowed by ``claims``; return it and whether it is pending.

    Args:
        store: where votes go.
        claims: the verified token.
        name: the feedback name; the token must allow it.
        value: true/false, a number or a string.
        rationale, metadata: as for any feedback.
        pending_ttl_seconds: how long a vote waits for a trace that is not stored yet.
        trace_id: the trace the caller means, if it says; it must be the token's.

    Raises:
        FeedbackTokenScopeError: ``trace_id`` is another trace, or the trace is stored in
            another experiment than the token names.
        InvalidParameterError: a name the token does not allow, or a bad value.
    """
    if trace_id is not None and trace_id != claims.trace_id:
        raise FeedbackTokenScopeError(
            f"The feedback token is for trace {claims.trace_id!r}, not {trace_id!r}")
    if not claims.allows(name):
        allowed = ", ".join(repr(n) for n in claims.names or ())
        raise InvalidParameterError(
            f"Invalid name {name!r}: the feedback token allows only {allowed}")
    _check_vote_value(value)
    _check_experiment(store, claims)
    voter = AssessmentSource(AssessmentSourceType.HUMAN, claims.voter_id)
    vote = Feedback(name=name, value=value, source=voter, trace_id=claims.trace_id,
                    rationale=rationale, metadata=metadata)
    # One store call: it finds the voter's previous vote and overrides it in the same
    # transaction, so simultaneous votes cannot all stay valid.
    return store.log_vote(vote, pending_ttl_seconds)


def _check_experiment(store: Store, claims: TokenClaims) -> None:
    """FeedbackTokenScopeError if the trace is stored in another experiment than the
    token's (when the token names one)."""
    if claims.experiment_id is None:
        return
    try:
        info = store.get_trace_info(claims.trace_id)
    except NotFoundError:
        return
    if info.experiment_id != claims.experiment_id:
        raise FeedbackTokenScopeError(
            f"The feedback token is for trace {claims.trace_id!r} of experiment "
            f"{claims.experiment_id!r}, but that trace is in another experiment")


def _check_vote_value(value: object) -> None:
    if isinstance(value, (bool, int, float, str)):
        return
    raise InvalidParameterError(
        f"Invalid value: a vote is true/false, a number or a string, got "
        f"{'null' if value is None else type(value).__name__}")
