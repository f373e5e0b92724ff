"""The rules of assessments and experiments, written once for every path that applies them.

The SQL store (the SDK's direct path, and the server behind the REST one), a trace still
running in this process, and the server's routes and pages all follow these:

* **Override chains.** An assessment that overrides another names it in ``overrides``; the
  one overridden stays as history, invalid. An override of an assessment that was overridden
  already supersedes the newest of its chain (:func:`newest_of_chain`), so a chain stays a
  line and exactly one of it is valid (:func:`with_validity`). Deleting one splices it out
  of its chain (:func:`spliced_out`).
* **Overriding feedback** (:func:`overriding_feedback`) and **updating in place**
  (:func:`updated_assessment`, :func:`changed_assessment`).
* **Session-level assessments** are stored on a trace of their session
  (:func:`session_target`).
* **Votes**: an end user's vote supersedes their valid vote of the same name on the trace
  (:func:`check_vote`, :func:`is_vote_of`).
* **Experiments named in code or by OTLP** are created on first use, once even when two
  processes race (:func:`experiment_named`).

The "newest" of several assessments is the one created last (``create_time_ms``), and of
those created in the same millisecond the one logged last (:func:`newest`).

Everything here is pure over entities, except the last three functions, which take a
store-like object (anything with the methods of their Protocol: a ``Store``) and read and
write only through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from assay.entities._time import now_ms
from assay.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    assessment_metadata_keys,
)
from assay.entities.experiment import Experiment
from assay.errors import AlreadyExistsError, InvalidParameterError, NotFoundError

__all__ = [
    "AssessmentStore",
    "ExperimentStore",
    "change_assessment",
    "changed_assessment",
    "check_vote",
    "experiment_named",
    "is_vote_of",
    "last_changed",
    "newest",
    "newest_of_chain",
    "override_feedback",
    "overriders_within",
    "overriding_feedback",
    "session_target",
    "spliced_out",
    "updated_assessment",
    "with_validity",
]

#: The most characters of a session id a message quotes.
_SHOWN_ID_CHARS = 200


_A = TypeVar("_A", bound=Assessment)


# -- override chains ------------------------------------------------------------------------

def newest(assessments: Sequence[Assessment]) -> Assessment:
    """The newest of ``assessments`` (given in the order they were logged): the one created
    last, and of those created in the same millisecond the one logged last."""
    if not assessments:
        raise ValueError("newest() of no assessments")
    return max(enumerate(assessments), key=lambda item: (item[1].create_time_ms, item[0]))[1]


def last_changed(assessments: Sequence[_A]) -> _A | None:
    """Of ``assessments`` (given in the order they were logged), the one changed last: by
    its last update, then its creation, and of those in the same millisecond the one logged
    last (as :func:`newest`); None for none."""
    if not assessments:
        return None
    return max(enumerate(assessments), key=lambda item: (
        item[1].last_update_time_ms, item[1].create_time_ms, item[0]))[1]


def newest_of_chain(target: Assessment, new: Assessment,
                    overriders_of: Callable[[str], Sequence[Assessment]]) -> Assessment:
    """The assessment that ``new``, an override of ``target``, supersedes.

    That is ``target`` while it is valid; once overridden, the newest assessment that
    overrides it, followed along the chain to the valid one (or to the end of the chain,
    or to an assessment met before), so that two overrides of one assessment form a chain,
    not a fork. ``overriders_of(id)`` gives the assessments whose ``overrides`` is ``id``,
    in the order they were logged; a database store locks them as it reads them, so
    overrides made at the same moment take turns along the chain.

    Raises:
        InvalidParameterError: ``new`` is not of ``target``'s kind.
    """
    if target.kind != new.kind:
        raise InvalidParameterError(
            f"Assessment {target.assessment_id!r} is a {target.kind}, not a {new.kind}: an "
            "assessment can only override one of its own kind")
    current = target
    seen = {current.assessment_id}
    while not current.valid:
        overriders = overriders_of(str(current.assessment_id))
        if not overriders:
            break
        following = newest(overriders)
        if following.assessment_id in seen:
            break
        current = following
        seen.add(current.assessment_id)
    return current


def overriders_within(assessments: Sequence[Assessment]) -> Callable[[str], list[Assessment]]:
    """``overriders_of`` for :func:`newest_of_chain` over assessments held in a list (in the
    order they were logged)."""
    by_overridden: dict[str, list[Assessment]] = {}
    for assessment in assessments:
        if assessment.overrides is not None:
            by_overridden.setdefault(assessment.overrides, []).append(assessment)
    return lambda assessment_id: by_overridden.get(assessment_id, [])


def with_validity(assessments: Sequence[Assessment]) -> list[Assessment]:
    """The assessments, each one that another of them overrides made invalid (the others
    as they were), whatever their order."""
    overridden = {a.overrides for a in assessments if a.overrides is not None}
    return [dataclasses.replace(a, valid=False)
            if a.valid and a.assessment_id in overridden else a
            for a in assessments]


def spliced_out(assessments: Sequence[Assessment], assessment_id: str) -> list[Assessment]:
    """The assessments once the one with this id is deleted (unchanged if none has it).

    What overrode it now overrides what it overrode, and that one is valid again unless
    another assessment still overrides it (deleting an override undoes it).
    """
    deleted = next((a for a in assessments if a.assessment_id == assessment_id), None)
    if deleted is None:
        return list(assessments)
    parent = deleted.overrides
    kept = [dataclasses.replace(a, overrides=parent) if a.overrides == assessment_id else a
            for a in assessments if a.assessment_id != assessment_id]
    if parent is None:
        return kept
    still_overridden = any(a.overrides == parent for a in kept)
    return [dataclasses.replace(a, valid=not still_overridden)
            if a.assessment_id == parent else a for a in kept]


# -- overriding and updating -----------------------------------------------------------------

def overriding_feedback(old: Assessment, value: Any, rationale: str | None = None,
                        source: AssessmentSource | AssessmentSourceType | str | None = None,
                        metadata: Mapping[str, Any] | None = None,
                        trace_id: str | None = None) -> Feedback:
    """The Feedback that supersedes ``old``: same name, span and session, new value.

    Its source defaults to HUMAN (a person correcting a judge; MLflow defaults to CODE).
    InvalidParameterError if ``old`` is an expectation, which cannot be overridden.
    """
    if not isinstance(old, Feedback):
        raise InvalidParameterError(
            f"Assessment with ID {old.assessment_id!r} is not a feedback assessment (it is an "
            "expectation); only feedback can be overridden")
    new_metadata = dict(metadata or {})
    if old.session_id is not None:
        new_metadata.setdefault(assessment_metadata_keys.SESSION, old.session_id)
    return Feedback(name=old.name, value=value, rationale=rationale,
                    source=source or AssessmentSource(AssessmentSourceType.HUMAN),
                    metadata=new_metadata, span_id=old.span_id,
                    trace_id=old.trace_id or trace_id, overrides=old.assessment_id)


def updated_assessment(old: Assessment, new: Assessment) -> Assessment:
    """``old`` after an in-place update with the fields of ``new`` (MLflow's rules).

    The name, value (and a feedback's error) are replaced; a rationale of None keeps the old
    one; metadata is merged, the new keys winning; the update time becomes now. The source,
    span, creation time, validity, overrides and run stay as they were.

    Raises:
        InvalidParameterError: ``new`` is not of ``old``'s kind, or it moves the assessment
            to another session.
    """
    if type(new) is not type(old):
        raise InvalidParameterError(
            f"Cannot update {new.kind} value on a {type(old).__name__} assessment "
            f"({old.assessment_id!r}): an assessment keeps its kind")
    session = new.metadata.get(assessment_metadata_keys.SESSION)
    if session is not None and session != old.session_id:
        raise InvalidParameterError(
            f"Invalid metadata {assessment_metadata_keys.SESSION!r} in the update of "
            f"assessment {old.assessment_id!r}: the session of an assessment cannot change")
    return dataclasses.replace(
        old,
        name=new.name,
        value=new.value,
        error=new.error,
        rationale=old.rationale if new.rationale is None else new.rationale,
        metadata={**old.metadata, **new.metadata},
        last_update_time_ms=max(now_ms(), old.create_time_ms),
    )


def changed_assessment(old: Assessment, changes: Mapping[str, Any]) -> Assessment:
    """What to update ``old`` with (see :func:`updated_assessment`), given only the fields
    that change.

    ``changes`` may hold ``name``, ``value``, ``rationale``, ``metadata`` (merged into the
    old metadata) and ``error`` (an :class:`AssessmentError`, feedback only); a field left
    out keeps its value. A new value without an error clears the old error.
    """
    fields: dict[str, Any] = {k: changes[k] for k in ("name", "rationale", "metadata")
                              if k in changes}
    if "value" in changes:
        fields["value"] = changes["value"]
        fields["error"] = None
    if changes.get("error") is not None:
        error = changes["error"]
        if not isinstance(error, AssessmentError):
            raise InvalidParameterError(
                f"Invalid error {error!r}: expected an AssessmentError")
        fields["error"] = error
    return dataclasses.replace(old, **fields)


# -- sessions -------------------------------------------------------------------------------

def session_target(trace_id: str | None, session_id: str | None,
                   metadata: Mapping[str, Any] | None,
                   first_trace_of: Callable[[str], str | None],
                   ) -> tuple[str, Mapping[str, Any] | None]:
    """The trace an assessment goes on, and its metadata, for a trace or a whole session.

    Without ``session_id`` it is ``trace_id`` and the metadata as given. With it, the
    metadata names the session (``mlflow.trace.session``), and the trace is ``trace_id``
    (the store checks it is part of the session) or else the session's first trace,
    ``first_trace_of(session_id)``, called only then; every trace of the session lists the
    assessment.

    Raises:
        InvalidParameterError: neither id, a session id that is not a non-empty string, or
            metadata naming another session.
        NotFoundError: no trace of the session is stored.
    """
    if session_id is None:
        if trace_id is None:
            raise InvalidParameterError(
                "Invalid trace_id None: give the trace the assessment is about, or a "
                "session_id for an assessment of a whole session")
        return trace_id, metadata
    if not isinstance(session_id, str) or not session_id:
        raise InvalidParameterError(
            f"Invalid session_id {session_id!r}: expected a non-empty string")
    key = assessment_metadata_keys.SESSION
    if metadata and metadata.get(key, session_id) != session_id:
        raise InvalidParameterError(
            f"Invalid metadata {key!r} {metadata[key]!r}: it differs from session_id "
            f"{session_id!r}")
    if trace_id is None:
        found = first_trace_of(session_id)
        if found is None:
            raise NotFoundError(f"Session with ID {session_id[:_SHOWN_ID_CHARS]!r} not found: "
                                "no logged trace has this session id")
        trace_id = found
    return trace_id, {**(metadata or {}), key: session_id}


# -- votes ----------------------------------------------------------------------------------

def check_vote(vote: Feedback) -> tuple[str, str]:
    """The trace id and the voter id of a vote: a HUMAN feedback on a whole trace whose
    source id is the voter. InvalidParameterError for anything else."""
    source = vote.source
    if not isinstance(vote, Feedback) or source.source_type != AssessmentSourceType.HUMAN \
            or not source.source_id:
        raise InvalidParameterError(
            "Invalid source: a vote is a HUMAN feedback whose source_id is the voter")
    if vote.span_id is not None:
        raise InvalidParameterError(
            f"Invalid span_id {vote.span_id!r}: a vote is about a whole trace")
    if not isinstance(vote.trace_id, str) or not vote.trace_id:
        raise InvalidParameterError(f"Invalid trace_id {vote.trace_id!r}: a vote needs one")
    return vote.trace_id, source.source_id


def is_vote_of(assessment: Assessment, name: str, voter_id: str) -> bool:
    """Whether ``assessment`` is a vote of ``voter_id`` called ``name``: the kind of
    assessment a new vote of theirs supersedes (when it is valid)."""
    return (isinstance(assessment, Feedback) and assessment.name == name
            and assessment.source.source_type == AssessmentSourceType.HUMAN
            and assessment.source.source_id == voter_id
            and assessment.span_id is None and assessment.session_id is None)


# -- through a store ------------------------------------------------------------------------

class ExperimentStore(Protocol):
    """What :func:`experiment_named` needs of a store."""

    def find_experiment_by_name(self, name: str) -> Experiment | None: ...

    def create_experiment(self, name: str) -> str: ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...


class AssessmentStore(Protocol):
    """What :func:`override_feedback` and :func:`change_assessment` need of a store."""

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment: ...

    def log_assessment(self, assessment: Assessment) -> Assessment: ...

    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment: ...


def experiment_named(store: ExperimentStore, name: str) -> Experiment:
    """The experiment called ``name``, created if there is none.

    When another process creates it between the look-up and the creation, that one is
    returned: the name stays unique, and neither caller fails.
    """
    experiment = store.find_experiment_by_name(name)
    if experiment is not None:
        return experiment
    try:
        return store.get_experiment(store.create_experiment(name))
    except AlreadyExistsError:
        found = store.find_experiment_by_name(name)
        if found is None:
            raise
        return found


def override_feedback(store: AssessmentStore, trace_id: str, assessment_id: str, value: Any,
                      rationale: str | None = None, source: AssessmentSource | None = None,
                      metadata: Mapping[str, Any] | None = None) -> Feedback:
    """Supersede a stored feedback with a corrected one (:func:`overriding_feedback`); the
    old one stays, invalid. InvalidParameterError for an expectation; NotFoundError for an
    unknown id."""
    feedback = overriding_feedback(store.get_assessment(trace_id, assessment_id), value,
                                   rationale, source, metadata, trace_id)
    logged = store.log_assessment(feedback)
    assert isinstance(logged, Feedback)
    return logged


def change_assessment(store: AssessmentStore, trace_id: str, assessment_id: str,
                      changes: Mapping[str, Any]) -> Assessment:
    """Update a stored assessment in place with the fields in ``changes``
    (:func:`changed_assessment`)."""
    old = store.get_assessment(trace_id, assessment_id)
    return store.update_assessment(trace_id, assessment_id, changed_assessment(old, changes))
