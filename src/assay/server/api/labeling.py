"""Label schemas, runs and labeling sessions: what owners set up and what reviewers do.

Owners (``write``) create schemas and sessions, add items and adjudicate. Reviewers
(``review``: admins, members and reviewers) take items, answer and skip them, and read the
items of the sessions they are assigned to; a reviewer acts only as themself, and sees only
their sessions. Gold labels are read with ``read``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Query
from pydantic import BaseModel, Field, JsonValue

from assay.entities.label_schema import LabelSchema, LabelSchemaType, input_from_dict
from assay.entities.labeling import GoldLabel, LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.entities.user import Role, User
from assay.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from assay.server.api.common import (
    EmptyResponse,
    JsonInt,
    RequestModel,
    trace_json,
)
from assay.server.deps import CurrentUserDep, StoreDep
from assay.server.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable
from assay.store.base import Store

__all__ = ["router"]

router = RouteTable(tags=["labeling"], responses=ERROR_RESPONSES)

_RUN_ID = r"^[0-9a-f]{32}$"
_INPUT = ("The input, as one key naming its kind: {\"categorical\": {\"options\": [...], "
          "\"multi_select\": false}}, {\"pass_fail\": {\"positive_label\": ..., "
          "\"negative_label\": ...}}, {\"numeric\": {\"min_value\": ..., \"max_value\": ...}}, "
          "{\"text\": {\"max_length\": ...}}, {\"categorical_list\": {\"options\": [...]}}, "
          "{\"text_list\": {\"max_length_each\": ..., \"max_count\": ...}}")


# -- label schemas ---------------------------------------------------------------------------

class CreateLabelSchemaRequest(RequestModel):
    experiment_id: str = Field(min_length=1, max_length=32, description="Where it lives")
    name: str = Field(min_length=1, max_length=250, description="The assessments' name")
    type: str = Field(description="feedback or expectation (any case)",
                      json_schema_extra={"enum": ["feedback", "expectation", "FEEDBACK",
                                                  "EXPECTATION"]})
    input: dict[str, JsonValue] = Field(description=_INPUT)
    title: str | None = Field(default=None, max_length=1000,
                              description="The question as reviewers read it")
    instruction: str | None = Field(default=None, max_length=1000,
                                    description="Guidance under the question")
    enable_comment: bool = Field(default=False, description="Reviewers may add a comment")
    overwrite: bool = Field(default=False, description="Replace a schema of the same name")


class UpdateLabelSchemaRequest(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=250)
    title: str | None = Field(default=None, max_length=1000)
    instruction: str | None = Field(default=None, max_length=1000)
    enable_comment: bool | None = None
    input: dict[str, JsonValue] | None = Field(
        default=None, description="Same kind as before; options and limits may change")


class LabelSchemaResponse(BaseModel):
    label_schema: dict[str, Any] = Field(
        description="schema_id, experiment_id, name, type, title, instruction, "
                    "enable_comment, input, created_by, created_at, last_updated_at")


class LabelSchemasResponse(BaseModel):
    label_schemas: list[dict[str, Any]]
    next_page_token: str | None = None


@router.post("/label-schemas", response_model=LabelSchemaResponse,
             openapi_extra=needs(Action.WRITE), responses={409: CONFLICT_RESPONSE})
def create_label_schema(body: CreateLabelSchemaRequest, store: StoreDep,
                        user: CurrentUserDep) -> LabelSchemaResponse:
    """Create a label schema (or replace one of the same name, with ``overwrite``)."""
    schema = LabelSchema(name=body.name, type=LabelSchemaType.parse(body.type),
                         input=input_from_dict(body.input), title=body.title,
                         instruction=body.instruction, enable_comment=body.enable_comment,
                         experiment_id=body.experiment_id)
    created = store.create_label_schema(schema, overwrite=body.overwrite,
                                        created_by=None if user is None else user.username)
    return LabelSchemaResponse(label_schema=created.to_dict())


@router.get("/label-schemas/{schema_id}", response_model=LabelSchemaResponse,
            openapi_extra=needs(Action.READ))
def get_label_schema(schema_id: str, store: StoreDep) -> LabelSchemaResponse:
    """The label schema with this id."""
    return LabelSchemaResponse(label_schema=store.get_label_schema(schema_id=schema_id).to_dict())


@router.get("/experiments/{experiment_id}/label-schemas", response_model=LabelSchemasResponse,
            openapi_extra=needs(Action.READ))
def list_label_schemas(experiment_id: str, store: StoreDep,
                       name: str | None = Query(default=None, min_length=1, max_length=250,
                                                description="Only the schema of this name"),
                       max_results: int = Query(default=100, ge=1, le=1000),
                       page_token: str | None = Query(default=None, max_length=1000),
                       ) -> LabelSchemasResponse:
    """The experiment's label schemas, oldest first (or the one named ``name``)."""
    if name is not None:
        found = store.get_label_schema(experiment_id=experiment_id, name=name)
        return LabelSchemasResponse(label_schemas=[found.to_dict()])
    page = store.list_label_schemas(experiment_id, max_results, page_token)
    return LabelSchemasResponse(label_schemas=[s.to_dict() for s in page],
                                next_page_token=page.token)


@router.patch("/label-schemas/{schema_id}", response_model=LabelSchemaResponse,
              openapi_extra=needs(Action.WRITE), responses={409: CONFLICT_RESPONSE})
def update_label_schema(schema_id: str, body: UpdateLabelSchemaRequest,
                        store: StoreDep) -> LabelSchemaResponse:
    """Change the given fields (the type cannot change). An edit that would leave answers
    already given invalid (an option removed that one holds, a limit below one, another
    input kind or multi_select while answers exist, a new name while answers or sessions
    use it) is refused, naming the field, the schema and how many answers."""
    updated = store.update_label_schema(
        schema_id, name=body.name, title=body.title, instruction=body.instruction,
        enable_comment=body.enable_comment,
        input=None if body.input is None else input_from_dict(body.input))
    return LabelSchemaResponse(label_schema=updated.to_dict())


@router.delete("/label-schemas/{schema_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_label_schema(schema_id: str, store: StoreDep) -> EmptyResponse:
    """Delete a label schema; the answers it collected stay on their traces."""
    store.delete_label_schema(schema_id)
    return EmptyResponse()


# -- labeling sessions -----------------------------------------------------------------------

class CreateSessionRequest(RequestModel):
    experiment_id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=250)
    label_schemas: list[str] = Field(default_factory=list, max_length=100,
                                     description="Schema names, in the order asked")
    assigned_users: list[str] = Field(default_factory=list, max_length=1000,
                                      description="Who reviews; empty: anyone may")
    reviewers_per_item: JsonInt = Field(default=1, description="At least 1, and at most the "
                                        "number of assigned users when any are")
    instructions: str | None = Field(default=None, max_length=10_000)


class SessionResponse(BaseModel):
    labeling_session: dict[str, Any] = Field(
        description="run_id, experiment_id, name, label_schemas, assigned_users, "
                    "reviewers_per_item, instructions, created_by, created_at")


class SessionsResponse(BaseModel):
    labeling_sessions: list[dict[str, Any]]


class ReviewersRequest(RequestModel):
    assigned_users: list[str] = Field(max_length=1000)


class ItemsRequest(RequestModel):
    trace_ids: list[str] = Field(max_length=10_000, description="At most 10,000 a call")


class ItemsResponse(BaseModel):
    trace_ids: list[str] = Field(description="The ids added (or removed) by this call")


class ReviewerRequest(RequestModel):
    reviewer: str | None = Field(
        default=None, min_length=1, max_length=250,
        description="Who reviews; default: the caller (required without --auth)")


class NextItemResponse(BaseModel):
    trace_id: str | None = Field(description="The item claimed, or null when none is left")


class AnswersRequest(ReviewerRequest):
    answers: dict[str, JsonValue] = Field(max_length=100,
                                          description="Schema name to value; at least one")
    comment: str | None = Field(default=None, max_length=10_000,
                                description="A comment for every answer (each answer's "
                                            "rationale)")
    comments: dict[str, str | None] | None = Field(
        default=None, max_length=100,
        description="Schema name to a comment for that answer alone (its rationale, in "
                    "place of comment); only names answered")


class AnswersResponse(BaseModel):
    assessments: list[dict[str, Any]]


class ProgressResponse(BaseModel):
    progress: dict[str, Any] = Field(
        description="items, done_items, reviewers_per_item, completed_reviews, "
                    "fraction_done, reviewers [{reviewer, completed, skipped, in_progress}]")


class SessionAnswersResponse(BaseModel):
    answers: dict[str, dict[str, dict[str, JsonValue]]] = Field(
        description="Schema name to trace id to reviewer to value")


class ItemResponse(BaseModel):
    trace: dict[str, Any]


@router.post("/labeling-sessions", response_model=SessionResponse,
             openapi_extra=needs(Action.WRITE))
def create_labeling_session(body: CreateSessionRequest, store: StoreDep,
                            user: CurrentUserDep) -> SessionResponse:
    """Create a labeling session (a run of kind labeling)."""
    info = LabelingSessionInfo(
        run_id=new_run_id(), experiment_id=body.experiment_id, name=body.name,
        label_schemas=tuple(body.label_schemas), assigned_users=tuple(body.assigned_users),
        reviewers_per_item=body.reviewers_per_item, instructions=body.instructions,
        created_by=None if user is None else user.username)
    return SessionResponse(labeling_session=store.create_labeling_session(info).to_dict())


@router.get("/labeling-sessions/{run_id}", response_model=SessionResponse,
            openapi_extra=needs(Action.REVIEW))
def get_labeling_session(run_id: str, store: StoreDep, user: CurrentUserDep) -> SessionResponse:
    """A labeling session (a reviewer sees only those assigned to them)."""
    return SessionResponse(labeling_session=_visible_session(store, run_id, user).to_dict())


@router.get("/experiments/{experiment_id}/labeling-sessions", response_model=SessionsResponse,
            openapi_extra=needs(Action.REVIEW))
def list_labeling_sessions(experiment_id: str, store: StoreDep, user: CurrentUserDep,
                           reviewer: str | None = Query(default=None, min_length=1,
                                                        max_length=250),
                           ) -> SessionsResponse:
    """The experiment's sessions, newest first; ``reviewer``: only those open to them (a
    reviewer always sees only their own)."""
    if _is_reviewer(user):
        assert user is not None
        reviewer = user.username
    found = store.list_labeling_sessions([experiment_id], reviewer=reviewer)
    return SessionsResponse(labeling_sessions=[s.to_dict() for s in found])


@router.delete("/labeling-sessions/{run_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.WRITE))
def delete_labeling_session(run_id: str, store: StoreDep) -> EmptyResponse:
    """Delete a session and its run; the answers stay on the traces."""
    store.delete_labeling_session(run_id)
    return EmptyResponse()


@router.put("/labeling-sessions/{run_id}/reviewers", response_model=SessionResponse,
            openapi_extra=needs(Action.WRITE))
def set_labeling_reviewers(run_id: str, body: ReviewersRequest,
                           store: StoreDep) -> SessionResponse:
    """Replace who is assigned to review."""
    info = store.set_labeling_reviewers(run_id, body.assigned_users)
    return SessionResponse(labeling_session=info.to_dict())


@router.post("/labeling-sessions/{run_id}/items", response_model=ItemsResponse,
             openapi_extra=needs(Action.WRITE))
def add_labeling_items(run_id: str, body: ItemsRequest, store: StoreDep) -> ItemsResponse:
    """Add traces to a session (idempotent); every one must be in its experiment."""
    return ItemsResponse(trace_ids=store.add_labeling_items(run_id, body.trace_ids))


@router.post("/labeling-sessions/{run_id}/items/remove", response_model=ItemsResponse,
             openapi_extra=needs(Action.WRITE))
def remove_labeling_items(run_id: str, body: ItemsRequest, store: StoreDep) -> ItemsResponse:
    """Remove traces from a session; the answers already given stay on them."""
    return ItemsResponse(trace_ids=store.remove_labeling_items(run_id, body.trace_ids))


@router.post("/labeling-sessions/{run_id}/next", response_model=NextItemResponse,
             openapi_extra=needs(Action.REVIEW))
def next_labeling_item(run_id: str, body: ReviewerRequest, store: StoreDep,
                       user: CurrentUserDep) -> NextItemResponse:
    """Claim the reviewer's next item: the one they hold, else the oldest that still needs
    reviewers; null when none is left."""
    reviewer = _reviewer(body.reviewer, user)
    return NextItemResponse(trace_id=store.next_labeling_item(run_id, reviewer))


@router.get("/labeling-sessions/{run_id}/items/{trace_id}", response_model=ItemResponse,
            openapi_extra=needs(Action.REVIEW))
def get_labeling_item(run_id: str, trace_id: str, store: StoreDep,
                      user: CurrentUserDep) -> ItemResponse:
    """An item of a session: its trace with spans and assessments (a reviewer reads only the
    items of the sessions assigned to them)."""
    _visible_session(store, run_id, user)
    return ItemResponse(trace=trace_json(store.get_labeling_item(run_id, trace_id)))


@router.post("/labeling-sessions/{run_id}/items/{trace_id}/answers",
             response_model=AnswersResponse, openapi_extra=needs(Action.REVIEW))
def submit_labeling_answers(run_id: str, trace_id: str, body: AnswersRequest, store: StoreDep,
                            user: CurrentUserDep) -> AnswersResponse:
    """Record a reviewer's answers to an item, each checked against its schema."""
    reviewer = _reviewer(body.reviewer, user)
    written = store.submit_labeling_answers(run_id, trace_id, reviewer, body.answers,
                                            body.comment, comments=body.comments)
    return AnswersResponse(assessments=[a.to_dictionary() for a in written])


@router.post("/labeling-sessions/{run_id}/items/{trace_id}/skip",
             response_model=EmptyResponse, openapi_extra=needs(Action.REVIEW))
def skip_labeling_item(run_id: str, trace_id: str, body: ReviewerRequest, store: StoreDep,
                       user: CurrentUserDep) -> EmptyResponse:
    """The reviewer passes on an item; its slot goes to someone else."""
    store.skip_labeling_item(run_id, trace_id, _reviewer(body.reviewer, user))
    return EmptyResponse()


@router.get("/labeling-sessions/{run_id}/progress", response_model=ProgressResponse,
            openapi_extra=needs(Action.REVIEW))
def get_labeling_progress(run_id: str, store: StoreDep,
                          user: CurrentUserDep) -> ProgressResponse:
    """Items in all and done, reviews given, and each reviewer's counts."""
    _visible_session(store, run_id, user)
    return ProgressResponse(progress=store.get_labeling_progress(run_id).to_dict())


@router.get("/labeling-sessions/{run_id}/answers", response_model=SessionAnswersResponse,
            openapi_extra=needs(Action.READ))
def get_labeling_answers(run_id: str, store: StoreDep) -> SessionAnswersResponse:
    """Every reviewer's current answers in the session."""
    return SessionAnswersResponse(answers=store.get_labeling_answers(run_id))


# -- gold labels -----------------------------------------------------------------------------

class AdjudicationRequest(RequestModel):
    schema_name: str = Field(min_length=1, max_length=250,
                             description="The question (a label schema of the session)")
    value: JsonValue = Field(description="The final value, checked against the schema; null "
                                         "clears the adjudication")
    adjudicator: str | None = Field(default=None, min_length=1, max_length=250,
                                    description="Who decided; default: the caller")


class GoldLabelResponse(BaseModel):
    gold_label: dict[str, Any] | None = Field(
        description="The item's gold label for the question afterwards, {value, "
                    "adjudicated}, or null when it has none")


class SessionGoldResponse(BaseModel):
    gold_labels: dict[str, dict[str, dict[str, Any]]] = Field(
        description="Schema name to trace id to {value, adjudicated}")


class GoldLabelsRequest(RequestModel):
    trace_ids: list[str] = Field(max_length=10_000, description="At most 10,000 a call")


class TracesGoldResponse(BaseModel):
    gold_labels: dict[str, dict[str, JsonValue]] = Field(
        description="Trace id to schema name to value (the newest session's, for a trace in "
                    "several); traces without gold labels are left out")


@router.put("/labeling-sessions/{run_id}/items/{trace_id}/adjudication",
            response_model=GoldLabelResponse, openapi_extra=needs(Action.WRITE))
def adjudicate_labeling_item(run_id: str, trace_id: str, body: AdjudicationRequest,
                             store: StoreDep,
                             user: CurrentUserDep) -> GoldLabelResponse:
    """Set (or, with a null value, clear) the final value of an item for one question."""
    adjudicator = body.adjudicator or (None if user is None else user.username)
    label = store.adjudicate_labeling_item(run_id, trace_id, body.schema_name, body.value,
                                           adjudicator)
    return GoldLabelResponse(gold_label=None if label is None else _gold_json(label))


@router.get("/labeling-sessions/{run_id}/gold", response_model=SessionGoldResponse,
            openapi_extra=needs(Action.READ))
def get_labeling_gold(run_id: str, store: StoreDep) -> SessionGoldResponse:
    """The session's gold labels (adjudicated, or agreed by every reviewer)."""
    found = store.get_labeling_gold(run_id)
    return SessionGoldResponse(gold_labels={
        name: {trace_id: _gold_json(label) for trace_id, label in by_item.items()}
        for name, by_item in found.items()})


@router.post("/gold-labels/query", response_model=TracesGoldResponse,
             openapi_extra=needs(Action.READ))
def get_gold_labels(body: GoldLabelsRequest, store: StoreDep) -> TracesGoldResponse:
    """The gold labels of traces, for evaluation to read as expectations."""
    return TracesGoldResponse(gold_labels=store.get_gold_labels(body.trace_ids))


class TraceSessionsResponse(BaseModel):
    sessions: dict[str, list[str]] = Field(
        description="Trace id to the run ids of the labeling sessions holding it, newest "
                    "first; traces in none are left out")


@router.post("/trace-labeling-sessions/query", response_model=TraceSessionsResponse,
             openapi_extra=needs(Action.READ))
def list_trace_labeling_sessions(body: GoldLabelsRequest,
                                 store: StoreDep) -> TraceSessionsResponse:
    """The labeling sessions that hold these traces as items."""
    return TraceSessionsResponse(sessions=store.list_trace_labeling_sessions(body.trace_ids))


def _gold_json(label: GoldLabel) -> dict[str, Any]:
    return {"value": label.value, "adjudicated": label.adjudicated}


# -- routing rules ---------------------------------------------------------------------------

class CreateRoutingRuleRequest(RequestModel):
    filter_string: str = Field(min_length=1, max_length=10_000,
                               description="A search filter (as search_traces takes)")
    sample_rate: float = Field(default=1.0, gt=0, le=1,
                               description="The share of matching traces routed, (0, 1]")


class RoutingRuleResponse(BaseModel):
    routing_rule: dict[str, Any] = Field(
        description="rule_id, run_id, filter_string, sample_rate, hit_count, created_time, "
                    "created_by")


class RoutingRulesResponse(BaseModel):
    routing_rules: list[dict[str, Any]]


@router.post("/labeling-sessions/{run_id}/routing-rules", response_model=RoutingRuleResponse,
             openapi_extra=needs(Action.WRITE))
def create_routing_rule(run_id: str, body: CreateRoutingRuleRequest, store: StoreDep,
                        user: CurrentUserDep) -> RoutingRuleResponse:
    """Route traces that match a filter (a sampled share of them) into the session as they,
    their feedback or their tags are written; each trace once."""
    rule = store.create_routing_rule(run_id, body.filter_string, body.sample_rate,
                                     None if user is None else user.username)
    return RoutingRuleResponse(routing_rule=rule.to_dict())


@router.get("/labeling-sessions/{run_id}/routing-rules", response_model=RoutingRulesResponse,
            openapi_extra=needs(Action.READ))
def list_routing_rules(run_id: str, store: StoreDep) -> RoutingRulesResponse:
    """The session's routing rules, oldest first, with their hit counts."""
    return RoutingRulesResponse(
        routing_rules=[rule.to_dict() for rule in store.list_routing_rules(run_id)])


@router.delete("/labeling-sessions/{run_id}/routing-rules/{rule_id}",
               response_model=EmptyResponse, openapi_extra=needs(Action.WRITE))
def delete_routing_rule(run_id: str, rule_id: str, store: StoreDep) -> EmptyResponse:
    """Delete a routing rule; the traces it routed stay in the session."""
    store.delete_routing_rule(run_id, rule_id)
    return EmptyResponse()


# -- who may see what ------------------------------------------------------------------------

def _is_reviewer(user: User | None) -> bool:
    return user is not None and user.role is Role.REVIEWER


def _reviewer(given: str | None, user: User | None) -> str:
    """Who a review request acts for: a reviewer only ever for themself; others for whom
    they name (default: themself)."""
    if user is None:
        if given is None:
            raise InvalidParameterError("Invalid reviewer: give the reviewer's name or e-mail")
        return given
    if _is_reviewer(user) and given is not None and given != user.username:
        raise PermissionDeniedError(
            f"A reviewer answers as themself only; {user.username!r} cannot act for {given!r}")
    return given or user.username


def _visible_session(store: Store, run_id: str, user: User | None) -> LabelingSessionInfo:
    info = store.get_labeling_session(run_id)
    if _is_reviewer(user) and user is not None and not info.may_review(user.username):
        # Said as "not found": a reviewer learns nothing of sessions that are not theirs.
        raise NotFoundError(f"Labeling session with run ID {run_id!r} not found")
    return info

