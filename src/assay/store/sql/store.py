"""The SQL store: :class:`SqlStore`, every store operation in one SQLite or PostgreSQL
database.

It owns the engine and the transactions; each method opens one (:meth:`SqlStore._reading`
or :meth:`SqlStore._writing`) and calls the functions of the module of its resource, which
hold the SQL. It implements :class:`~assay.store.base.Store` and the server-side
capabilities (:mod:`assay.store.capabilities`): pending assessments and votes, signing keys,
and accounts (users, API keys, sign-ins).

On SQLite, writes from the threads of one process go through one lock (SQLite has a single
writer anyway; taking turns in-process beats waiting on the file lock), and an in-memory
database, being a single shared connection, serializes reads too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assay.entities import Assessment, Experiment, Feedback, Session, Span, Trace, TraceInfo
from assay.entities._time import now_ms as _now_ms
from assay.entities.analytics import FeedbackSummary
from assay.entities.dataset import DatasetInfo, DatasetRecord, check_new_records
from assay.entities.label_schema import LabelInput, LabelSchema
from assay.entities.labeling import (
    GoldLabel,
    LabelingSessionInfo,
    RoutingRule,
    SessionProgress,
)
from assay.entities.overview import (
    AssessmentName,
    ExperimentStats,
    RecentIds,
    SpanOutline,
    TraceCount,
)
from assay.entities.review_queue import ReviewQueue, ReviewQueueItem
from assay.entities.run import Run, RunData, RunInfo, RunStatus
from assay.entities.user import ApiKey, NewApiKey, Role, User
from assay.errors import (
    AlreadyExistsError,
    AssayError,
    InvalidParameterError,
    InvalidTrackingURIError,
)
from assay.feedback_tokens import FEEDBACK_TOKEN_PURPOSE, issue_token
from assay.paging import PagedList
from assay.store.capabilities import ServerStore
from assay.store.checks import parse_experiment_id
from assay.store.sql import (
    analytics,
    credentials,
    experiment_stats,
    experiments,
    run_search,
    search,
    sessions,
    trace_tags,
)
from assay.store.sql import assessments as sql_assessments
from assay.store.sql import datasets as sql_datasets
from assay.store.sql import gold as sql_gold
from assay.store.sql import label_schemas as sql_label_schemas
from assay.store.sql import labeling as sql_labeling
from assay.store.sql import pending as sql_pending
from assay.store.sql import review_queues as sql_review_queues
from assay.store.sql import routing as sql_routing
from assay.store.sql import runs as sql_runs
from assay.store.sql import signing_keys as sql_signing_keys
from assay.store.sql import spans as sql_spans
from assay.store.sql import traces as sql_traces
from assay.store.sql import users as sql_users
from assay.store.sql import votes as sql_votes
from assay.store.sql.dialect import has_single_writer, is_transient_open_error
from assay.store.sql.engine import (
    WRITE_OPTION,
    connection_error,
    database_error,
    driver_message,
    is_memory_sqlite,
    open_engine,
    release_engine,
)
from assay.store.sql.migrations import upgrade_schema
from assay.store.trace_rows import trace_rows
from assay.store.uri import is_server_uri, mask_uri, validate_uri

__all__ = ["SqlStore"]


#: How long opening a new SQLite file keeps trying while other connections set it up.
_OPEN_RETRY_SECONDS = 10.0


class SqlStore(ServerStore):
    """A :class:`~assay.store.base.Store`, with every server-side capability, on a SQL
    database named by a tracking URI.

    Opening it creates or upgrades the schema when needed. ``sqlite:///:memory:`` works across
    threads; ``postgresql://`` and ``postgres://`` URIs use the psycopg 3 driver.

    Raises:
        InvalidTrackingURIError: the URI is not one the SQL store can use.
        AssayError: the database cannot be reached or opened (the message names the URI,
            with any password masked).
    """

    def __init__(self, uri: str) -> None:
        uri = validate_uri(uri)
        if is_server_uri(uri):
            raise InvalidTrackingURIError(
                f"Tracking URI {mask_uri(uri)!r} names an Assay server, not a database: open "
                "it with assay.store.open_store (the REST store)")
        self.uri = mask_uri(uri)
        self._engine, self._dialect = open_engine(uri)
        self._closed = False
        # Signing keys by purpose: one never changes once created, so it is read once.
        self._signing_keys: dict[str, bytes] = {}
        self._write_lock: threading.Lock | None = None
        self._read_lock: threading.Lock | None = None
        if has_single_writer(self._dialect):
            self._write_lock = threading.Lock()
        if is_memory_sqlite(self._engine):
            # One connection shared by every thread: readers must take turns with writers.
            self._read_lock = self._write_lock
        try:
            self._upgrade_schema()
        except sa.exc.DBAPIError as exc:
            release_engine(self._engine)
            raise connection_error(uri, exc) from None
        except BaseException:
            release_engine(self._engine)
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.uri!r})"

    def _upgrade_schema(self) -> None:
        # When several connections open a brand-new SQLite file at once, switching it to WAL
        # and WAL recovery can answer "database is locked" at once, without waiting for
        # busy_timeout (SQLite documents these cases). They are short, so try again a little.
        deadline = time.monotonic() + _OPEN_RETRY_SECONDS
        while True:
            try:
                upgrade_schema(self._engine, self._dialect)
                return
            except sa.exc.OperationalError as exc:
                if not is_transient_open_error(self._dialect, exc) \
                        or time.monotonic() > deadline:
                    raise
                self._engine.dispose()
                time.sleep(0.05)

    # -- experiments ---------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        with self._writing() as conn:
            return experiments.create_experiment(conn, name, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._reading() as conn:
            return experiments.get_experiment(conn, experiment_id)

    def find_experiment_by_name(self, name: str) -> Experiment | None:
        with self._reading() as conn:
            return experiments.find_experiment_by_name(conn, name)

    def search_experiments(self, max_results: int = 1000,
                           page_token: str | None = None) -> PagedList[Experiment]:
        with self._reading() as conn:
            return experiments.list_experiments(conn, max_results, page_token)

    # -- traces --------------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        if not traces:
            return
        # Checked and turned into rows before taking a turn to write: it is most of the CPU.
        rows = trace_rows(traces)
        try:
            with self._writing() as conn:
                sql_traces.log_traces(conn, self._dialect, traces, rows)
                # Assessments logged while a trace was running come inside it.
                sql_assessments.log_trace_assessments(conn, self._dialect, traces)
                # Feedback that arrived before its trace is attached with it.
                sql_pending.attach_pending_assessments(conn, self._dialect, traces)
                # A trace written again may bring a session's answers: its gold labels and
                # the session's change counter follow (only traces that carry assessments
                # can: the others cost no query).
                sql_gold.refresh_traces_gold(conn, self._dialect,
                                             [t.info.trace_id for t in traces
                                              if t.info.assessments])
                # Then routing rules see the traces with that feedback.
                sql_routing.route_traces(conn, self._dialect, [r.info.trace_id for r in traces],
                                         _experiment_keys(traces))
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            # What validation let through and the database refused (a value of the wrong
            # type, a missing name); the whole batch was rolled back.
            raise InvalidParameterError(f"Cannot store the traces: {driver_message(exc)}") from exc

    def get_trace(self, trace_id: str, include_spans: bool = True) -> Trace:
        with self._reading() as conn:
            trace = sql_traces.get_trace(conn, self._dialect, trace_id, include_spans)
            return sql_assessments.with_assessments(conn, self._dialect, [trace])[0]

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        with self._reading() as conn:
            info = sql_traces.get_trace_info(conn, self._dialect, trace_id)
            return sql_assessments.with_assessments(conn, self._dialect, [Trace(info)])[0].info

    def find_traces(self, trace_ids: Sequence[str]) -> dict[str, Trace]:
        if not trace_ids:
            return {}
        with self._reading() as conn:
            found = sql_traces.load_traces(conn, self._dialect, trace_ids, include_spans=True)
            if not found:
                return {}
            return {t.info.trace_id: t for t in
                    sql_assessments.with_assessments(conn, self._dialect, list(found.values()))}

    def search_traces(self, experiment_ids: Sequence[str], max_results: int = 100,
                      page_token: str | None = None, include_spans: bool = True,
                      filter_string: str | None = None, order_by: Sequence[str] | None = None,
                      run_id: str | None = None,
                      model_id: str | None = None) -> PagedList[Trace]:
        with self._reading() as conn:
            page = search.search_traces(conn, self._dialect, experiment_ids, max_results,
                                        page_token, include_spans, filter_string, order_by,
                                        run_id, model_id)
            return PagedList(sql_assessments.with_assessments(conn, self._dialect, page),
                             page.token)

    def get_feedback_summary(self, experiment_ids: Sequence[str],
                             filter_string: str | None = None,
                             names: Sequence[str] | None = None, group_by: str | None = None,
                             time_bucket: str | None = None) -> FeedbackSummary:
        with self._reading() as conn:
            return analytics.get_feedback_summary(conn, self._dialect, experiment_ids,
                                                  filter_string, names, group_by, time_bucket)

    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None,
                      trace_ids: Sequence[str] | None = None) -> int:
        with self._writing() as conn:
            return sql_traces.delete_traces(conn, self._dialect, experiment_id,
                                            max_timestamp_millis, max_traces, trace_ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        with self._writing() as conn:
            trace_tags.set_trace_tag(conn, self._dialect, trace_id, key, value)
            sql_routing.route_traces(conn, self._dialect, [trace_id])

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        with self._writing() as conn:
            trace_tags.delete_trace_tag(conn, trace_id, key)
            sql_routing.route_traces(conn, self._dialect, [trace_id])

    # -- sessions ------------------------------------------------------------------------
    def search_sessions(self, experiment_ids: Sequence[str], max_results: int = 100,
                        page_token: str | None = None, include_spans: bool = True,
                        run_id: str | None = None,
                        model_id: str | None = None) -> PagedList[Session]:
        with self._reading() as conn:
            return sessions.list_sessions(conn, self._dialect, experiment_ids, max_results,
                                          page_token, include_spans, run_id, model_id)

    def find_session_trace_id(self, session_id: str) -> str | None:
        with self._reading() as conn:
            return sql_assessments.find_session_trace_id(conn, session_id)

    # -- overviews ------------------------------------------------------------------------
    def get_experiment_stats(self,
                             experiment_ids: Sequence[str]) -> dict[str, ExperimentStats]:
        with self._reading() as conn:
            return experiment_stats.get_experiment_stats(conn, experiment_ids)

    def list_assessment_names(self, experiment_id: str,
                              max_results: int = 100) -> list[AssessmentName]:
        with self._reading() as conn:
            return experiment_stats.list_assessment_names(conn, experiment_id, max_results)

    def get_span(self, trace_id: str, span_id: str) -> Span:
        with self._reading() as conn:
            return sql_spans.get_span(conn, trace_id, span_id)

    def list_span_outlines(self, trace_id: str) -> list[SpanOutline]:
        with self._reading() as conn:
            return sql_spans.list_span_outlines(conn, trace_id)

    # -- assessments ---------------------------------------------------------------------
    def log_assessment(self, assessment: Assessment) -> Assessment:
        with self._writing_checked("the assessment") as conn:
            stored = sql_assessments.log_assessment(conn, self._dialect, assessment)
            # A reviewer's answer overridden (or a new one) may change a gold label.
            sql_gold.refresh_trace_gold(
                conn, self._dialect, str(stored.trace_id),
                None if stored.overrides is not None else stored.name)
            sql_routing.route_traces(conn, self._dialect, [str(stored.trace_id)])
            return stored

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        with self._reading() as conn:
            return sql_assessments.get_assessment(conn, trace_id, assessment_id)

    def update_assessment(self, trace_id: str, assessment_id: str,
                          assessment: Assessment) -> Assessment:
        with self._writing_checked("the assessment") as conn:
            updated = sql_assessments.update_assessment(conn, trace_id, assessment_id,
                                                        assessment)
            sql_gold.refresh_trace_gold(conn, self._dialect, trace_id)
            sql_routing.route_traces(conn, self._dialect, [trace_id])
            return updated

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        with self._writing() as conn:
            sql_assessments.delete_assessment(conn, trace_id, assessment_id)
            sql_gold.refresh_trace_gold(conn, self._dialect, trace_id)
            sql_routing.route_traces(conn, self._dialect, [trace_id])

    # -- feedback tokens ------------------------------------------------------------------
    def create_feedback_token(self, trace_id: str, names: Sequence[str] | None = None,
                              end_user_id: str | None = None, expires_in: float = 3600) -> str:
        # The trace need not be stored yet; when it is, the token names its experiment.
        key = self.signing_key(FEEDBACK_TOKEN_PURPOSE)
        experiment_id = None
        if isinstance(trace_id, str):
            with self._reading() as conn:
                experiment_id = sql_pending.find_experiment_id(conn, trace_id)
        return issue_token(key, trace_id, names, end_user_id, expires_in, experiment_id)

    # -- signing keys (SigningKeys) -------------------------------------------------------
    def signing_key(self, purpose: str) -> bytes:
        # 32 random bytes, read once: a key never changes once created.
        key = self._signing_keys.get(purpose)
        if key is None:
            with self._reading() as conn:
                key = sql_signing_keys.find_signing_key(conn, purpose)
            if key is None:
                with self._writing() as conn:
                    key = sql_signing_keys.create_signing_key(conn, self._dialect, purpose,
                                                              _now_ms())
            self._signing_keys[purpose] = key
        return key

    # -- pending assessments and votes (PendingAssessments) -------------------------------
    def keep_pending_assessment(self, assessment: Assessment,
                                expires_in_seconds: float) -> Assessment:
        with self._writing_checked("the pending assessment") as conn:
            kept = sql_pending.keep_pending_assessment(conn, self._dialect, assessment,
                                                       expires_in_seconds, _now_ms())
        self._attach_if_stored(kept.trace_id or "")
        return kept

    def log_vote(self, vote: Feedback, expires_in_seconds: float) -> tuple[Feedback, bool]:
        with self._writing_checked("the vote") as conn:
            logged, pending = sql_votes.log_vote(conn, self._dialect, vote,
                                                 expires_in_seconds, _now_ms())
            if not pending:
                sql_routing.route_traces(conn, self._dialect, [logged.trace_id or ""])
        if pending:
            self._attach_if_stored(logged.trace_id or "")
        return logged, pending

    def _attach_if_stored(self, trace_id: str) -> None:
        """Attach what is pending for the trace if it is stored now: it may have been
        written while an assessment was kept, without seeing it (see store/sql/pending.py)."""
        with self._reading() as conn:
            stored = sql_pending.find_experiment_id(conn, trace_id) is not None
        if stored:
            with self._writing() as conn:
                sql_pending.attach_to_stored_traces(conn, self._dialect, [trace_id])
                sql_routing.route_traces(conn, self._dialect, [trace_id])

    def attach_stored_pending_assessments(self) -> int:
        with self._writing() as conn:
            return sql_pending.attach_to_stored_traces(conn, self._dialect)

    def list_pending_assessments(self, trace_id: str) -> list[Assessment]:
        with self._reading() as conn:
            return sql_pending.list_pending_assessments(conn, trace_id)

    def expire_pending_assessments(self, now_ms: int | None = None) -> int:
        with self._writing() as conn:
            return sql_pending.expire_pending_assessments(
                conn, self._dialect, _now_ms() if now_ms is None else now_ms)

    def count_pending_assessments(self) -> int:
        with self._reading() as conn:
            return sql_pending.count_pending_assessments(conn)

    # -- users, API keys and sign-ins (Accounts) ------------------------------------------
    def create_user(self, username: str, role: Role | str,
                    password: str | None = None) -> User:
        sql_users.check_username(username)
        sql_users.parse_role(role)
        password_hash = _hash_password(password)
        with self._writing() as conn:
            return sql_users.create_user(conn, username, role, password_hash, _now_ms())

    def get_user(self, username: str) -> User:
        with self._reading() as conn:
            return sql_users.get_user(conn, username)

    def find_user_by_name(self, username: str) -> User | None:
        with self._reading() as conn:
            return sql_users.find_user_by_name(conn, username)

    def list_users(self) -> list[User]:
        with self._reading() as conn:
            return sql_users.list_users(conn)

    def set_user_role(self, username: str, role: Role | str) -> User:
        with self._writing() as conn:
            return sql_users.set_user_role(conn, username, role)

    def disable_user(self, username: str) -> User:
        with self._writing() as conn:
            return sql_users.set_user_disabled(conn, username, True)

    def enable_user(self, username: str) -> User:
        with self._writing() as conn:
            return sql_users.set_user_disabled(conn, username, False)

    def set_password(self, username: str, password: str | None) -> None:
        password_hash = _hash_password(password)
        with self._writing() as conn:
            sql_users.set_password_hash(conn, username, password_hash)
            sql_users.delete_user_sessions(conn, username)

    def authenticate_password(self, username: str, password: str) -> User | None:
        with self._reading() as conn:
            found = sql_users.find_password_hash(conn, username)
        user, stored = found if found is not None else (None, None)
        if not isinstance(password, str) or not credentials.verify_password(stored, password):
            return None
        assert user is not None and stored is not None
        if user.disabled:
            return None
        if credentials.password_needs_rehash(stored):
            with self._writing() as conn:
                sql_users.set_password_hash(conn, username, credentials.hash_password(password))
        return user

    def create_api_key(self, username: str, name: str,
                       expires_in: timedelta | None = None) -> NewApiKey:
        with self._writing() as conn:
            return sql_users.create_api_key(conn, username, name, expires_in, _now_ms())

    def list_api_keys(self, username: str | None = None) -> list[ApiKey]:
        with self._reading() as conn:
            return sql_users.list_api_keys(conn, username)

    def revoke_api_key(self, key_id: str) -> None:
        with self._writing() as conn:
            sql_users.revoke_api_key(conn, key_id)

    def authenticate_api_key(self, token: str) -> User | None:
        found = self.verify_api_key(token)
        return None if found is None else found[0]

    def verify_api_key(self, token: str) -> tuple[User, int | None] | None:
        now_ms = _now_ms()
        with self._reading() as conn:
            found = sql_users.find_api_key_user(conn, token, now_ms)
        if found is None:
            return None
        last_used_ms = found.last_used_time_ms
        if last_used_ms is None or now_ms - last_used_ms >= sql_users.LAST_USED_RESOLUTION_MS:
            with self._writing() as conn:
                sql_users.touch_api_key(conn, found.key_id, now_ms)
        return found.user, found.expires_time_ms

    def create_login_session(self, username: str,
                             lifetime: timedelta = sql_users.LOGIN_SESSION_LIFETIME) -> str:
        with self._writing() as conn:
            return sql_users.create_login_session(conn, username, lifetime, _now_ms())

    def find_login_session(self, token: str) -> User | None:
        with self._reading() as conn:
            return sql_users.find_login_session(conn, token, _now_ms())

    def delete_login_session(self, token: str) -> None:
        with self._writing() as conn:
            sql_users.delete_login_session(conn, token)

    # -- runs, label schemas, labeling sessions ---------------------------------------------
    def get_run(self, run_id: str) -> Run:
        with self._reading() as conn:
            return sql_runs.get_run(conn, run_id)

    def create_run(self, info: RunInfo, data: RunData | None = None) -> Run:
        with self._writing() as conn:
            return sql_runs.create_run(conn, info, data)

    def update_run(self, run_id: str, *, status: RunStatus | None = None,
                   end_time: int | None = None, metrics: Mapping[str, float] | None = None,
                   params: Mapping[str, str] | None = None,
                   tags: Mapping[str, str] | None = None) -> Run:
        with self._writing() as conn:
            return sql_runs.update_run(conn, run_id, status=status, end_time=end_time,
                                       metrics=metrics, params=params, tags=tags)

    def link_run_traces(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        with self._writing() as conn:
            return sql_runs.link_traces(conn, run_id, trace_ids)

    def search_runs(self, experiment_ids: Sequence[str], max_results: int = 1000,
                    page_token: str | None = None, filter_string: str | None = None,
                    order_by: Sequence[str] | None = None) -> PagedList[Run]:
        with self._reading() as conn:
            return run_search.search_runs(conn, self._dialect, experiment_ids, max_results,
                                          page_token, filter_string, order_by)

    def create_label_schema(self, schema: LabelSchema, *, overwrite: bool = False,
                            created_by: str | None = None) -> LabelSchema:
        with self._writing() as conn:
            return sql_label_schemas.create_label_schema(conn, schema, overwrite=overwrite,
                                                         created_by=created_by)

    def get_label_schema(self, *, schema_id: str | None = None,
                         experiment_id: str | None = None,
                         name: str | None = None) -> LabelSchema:
        with self._reading() as conn:
            return sql_label_schemas.get_label_schema(conn, schema_id=schema_id,
                                                      experiment_id=experiment_id, name=name)

    def list_label_schemas(self, experiment_id: str, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[LabelSchema]:
        with self._reading() as conn:
            return sql_label_schemas.list_label_schemas(conn, experiment_id, max_results,
                                                        page_token)

    def update_label_schema(self, schema_id: str, *, name: str | None = None,
                            title: str | None = None, instruction: str | None = None,
                            enable_comment: bool | None = None,
                            input: LabelInput | None = None) -> LabelSchema:
        with self._writing() as conn:
            return sql_label_schemas.update_label_schema(
                conn, schema_id, name=name, title=title, instruction=instruction,
                enable_comment=enable_comment, input=input)

    def delete_label_schema(self, schema_id: str) -> None:
        with self._writing() as conn:
            sql_label_schemas.delete_label_schema(conn, schema_id)

    def create_labeling_session(self, info: LabelingSessionInfo) -> LabelingSessionInfo:
        with self._writing() as conn:
            return sql_labeling.create_session(conn, info)

    def get_labeling_session(self, run_id: str) -> LabelingSessionInfo:
        with self._reading() as conn:
            return sql_labeling.get_session(conn, run_id)

    def list_labeling_sessions(self, experiment_ids: Sequence[str],
                               reviewer: str | None = None) -> list[LabelingSessionInfo]:
        with self._reading() as conn:
            return sql_labeling.list_sessions(conn, experiment_ids, reviewer)

    def delete_labeling_session(self, run_id: str) -> None:
        with self._writing() as conn:
            sql_labeling.delete_session(conn, run_id)

    def set_labeling_reviewers(self, run_id: str,
                               users: Sequence[str]) -> LabelingSessionInfo:
        with self._writing() as conn:
            return sql_labeling.set_assigned_users(conn, run_id, users)

    def add_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        with self._writing() as conn:
            return sql_labeling.add_items(conn, run_id, trace_ids)

    def remove_labeling_items(self, run_id: str, trace_ids: Sequence[str]) -> list[str]:
        with self._writing() as conn:
            return sql_labeling.remove_items(conn, run_id, trace_ids)

    def get_labeling_item(self, run_id: str, trace_id: str) -> Trace:
        with self._reading() as conn:
            sql_labeling.get_session(conn, run_id)
            sql_labeling.check_item(conn, run_id, trace_id)
        return self.get_trace(trace_id)

    def next_labeling_item(self, run_id: str, reviewer: str) -> str | None:
        with self._writing() as conn:
            return sql_labeling.next_item(conn, self._dialect, run_id, reviewer)

    def submit_labeling_answers(self, run_id: str, trace_id: str, reviewer: str,
                                answers: Mapping[str, Any],
                                comment: str | None = None, *,
                                comments: Mapping[str, str | None] | None = None,
                                ) -> list[Assessment]:
        with self._writing_checked("the answers") as conn:
            return sql_labeling.submit_answers(conn, self._dialect, run_id, trace_id,
                                               reviewer, answers, comment, comments=comments)

    def skip_labeling_item(self, run_id: str, trace_id: str, reviewer: str) -> None:
        with self._writing() as conn:
            sql_labeling.skip_item(conn, self._dialect, run_id, trace_id, reviewer)

    def get_labeling_progress(self, run_id: str) -> SessionProgress:
        with self._reading() as conn:
            return sql_labeling.progress(conn, run_id)

    def get_labeling_answers(self, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        with self._reading() as conn:
            return sql_labeling.session_answers(conn, run_id)

    def get_labeling_answers_version(self, run_id: str) -> int | None:
        with self._reading() as conn:
            return sql_labeling.answers_version(conn, run_id)

    def adjudicate_labeling_item(self, run_id: str, trace_id: str, schema_name: str,
                                 value: Any, adjudicator: str | None = None
                                 ) -> GoldLabel | None:
        with self._writing_checked("the adjudication") as conn:
            return sql_labeling.adjudicate(conn, self._dialect, run_id, trace_id, schema_name,
                                           value, adjudicator)

    def get_labeling_gold(self, run_id: str) -> dict[str, dict[str, GoldLabel]]:
        with self._reading() as conn:
            sql_labeling.get_session(conn, run_id)
            return sql_gold.session_gold(conn, run_id)

    def get_gold_labels(self, trace_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        ids = sql_runs.check_trace_ids(trace_ids)
        with self._reading() as conn:
            return sql_gold.traces_gold(conn, ids)

    def create_routing_rule(self, run_id: str, filter_string: str, sample_rate: float = 1.0,
                            created_by: str | None = None) -> RoutingRule:
        with self._writing() as conn:
            info = sql_labeling.get_session(conn, run_id, lock=True)
            return sql_routing.create_rule(conn, self._dialect, run_id, info.experiment_id,
                                           filter_string, sample_rate, created_by)

    def list_routing_rules(self, run_id: str) -> list[RoutingRule]:
        with self._reading() as conn:
            sql_labeling.get_session(conn, run_id)
            return sql_routing.list_rules(conn, run_id)

    def delete_routing_rule(self, run_id: str, rule_id: str) -> None:
        with self._writing() as conn:
            sql_labeling.get_session(conn, run_id, lock=True)
            sql_routing.delete_rule(conn, run_id, rule_id)

    # -- evaluation datasets ---------------------------------------------------------------
    def create_dataset(self, name: str, experiment_ids: Sequence[str],
                       tags: Mapping[str, str] | None = None,
                       created_by: str | None = None) -> DatasetInfo:
        try:
            with self._writing() as conn:
                return sql_datasets.create_dataset(conn, name, experiment_ids, tags,
                                                   created_by, _now_ms())
        except sa.exc.IntegrityError as exc:
            # Another writer took the name between the check and the insert.
            raise AlreadyExistsError(f"Dataset with name {name!r} already exists") from exc

    def get_dataset(self, *, dataset_id: str | None = None, name: str | None = None,
                    version: int | None = None) -> DatasetInfo:
        with self._reading() as conn:
            return sql_datasets.get_dataset(conn, dataset_id=dataset_id, name=name,
                                            version=version)

    def search_datasets(self, experiment_ids: Sequence[str] | None = None,
                        filter_string: str | None = None, max_results: int = 1000,
                        order_by: Sequence[str] | None = None,
                        page_token: str | None = None) -> PagedList[DatasetInfo]:
        with self._reading() as conn:
            found, token = sql_datasets.search_datasets(conn, self._dialect, experiment_ids,
                                                        filter_string, max_results, order_by,
                                                        page_token)
        return PagedList(found, token)

    def delete_dataset(self, dataset_id: str) -> None:
        with self._writing() as conn:
            sql_datasets.delete_dataset(conn, dataset_id)

    def merge_dataset_records(self, dataset_id: str, records: Sequence[Mapping[str, Any]],
                              updated_by: str | None = None) -> DatasetInfo:
        # Checked (and hashed) before taking a turn to write.
        checked = check_new_records(records)
        with self._writing_checked("the records") as conn:
            return sql_datasets.merge_records(conn, dataset_id, checked, updated_by, _now_ms())

    def delete_dataset_records(self, dataset_id: str, record_ids: Sequence[str],
                               updated_by: str | None = None) -> DatasetInfo:
        with self._writing() as conn:
            return sql_datasets.delete_records(conn, dataset_id, record_ids, updated_by,
                                               _now_ms())

    def list_dataset_records(self, dataset_id: str, version: int | None = None,
                             max_results: int = 1000,
                             page_token: str | None = None) -> PagedList[DatasetRecord]:
        with self._reading() as conn:
            found, token = sql_datasets.list_records(conn, dataset_id, version, max_results,
                                                     page_token)
        return PagedList(found, token)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the store's connections (on PostgreSQL, once no other store of the process
        is open on its URI, see :func:`~assay.store.sql.engine.open_engine`); the store
        cannot be used afterwards. Closing it again does nothing."""
        if self._closed:
            return
        self._closed = True
        # An in-memory database is one connection that every thread shares: a statement in
        # flight on it (from a thread the caller could not stop) ends before it is closed.
        with _hold(self._read_lock):
            release_engine(self._engine)

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection in a read transaction (one snapshot), rolled back at the end."""
        with _hold(self._read_lock):
            self._check_open()  # after the wait: close() may have taken the lock first
            try:
                with self._engine.connect() as conn:
                    yield conn
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed if the block raises nothing."""
        with _hold(self._write_lock):
            self._check_open()  # after the wait: close() may have taken the lock first
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        yield conn
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from None

    @contextmanager
    def _writing_checked(self, what: str) -> Iterator[Connection]:
        """:meth:`_writing`, with what the database refused despite the checks (a trace
        deleted meanwhile, say) reported as an InvalidParameterError; nothing is written."""
        try:
            with self._writing() as conn:
                yield conn
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            raise InvalidParameterError(f"Cannot store {what}: {driver_message(exc)}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise AssayError(f"The store for {self.uri!r} is closed")

    def _unavailable(self, exc: sa.exc.OperationalError) -> AssayError:
        return database_error(self.uri, exc)

    # -- the traces page: counts, page jumps, recent values ------------------------------
    def count_traces(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                     max_count: int = 10_000) -> TraceCount:
        with self._reading() as conn:
            return search.count_traces(conn, self._dialect, experiment_ids, filter_string,
                                       max_count)

    def find_trace_page_token(self, experiment_ids: Sequence[str], offset: int,
                              filter_string: str | None = None,
                              order_by: Sequence[str] | None = None) -> str | None:
        with self._reading() as conn:
            return search.find_page_token(conn, self._dialect, experiment_ids, offset,
                                          filter_string, order_by)

    def list_recent_ids(self, experiment_id: str, max_results: int = 200) -> RecentIds:
        with self._reading() as conn:
            return experiment_stats.list_recent_ids(conn, experiment_id, max_results)

    # -- review queues -------------------------------------------------------------------
    def create_review_queue(self, experiment_id: str, *, name: str, queue_type: str,
                            users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None,
                            created_by: str | None = None) -> ReviewQueue:
        with self._writing() as conn:
            return sql_review_queues.create_queue(
                conn, experiment_id, name=name, queue_type=queue_type, users=users,
                schema_ids=schema_ids, created_by=created_by)

    def get_or_create_user_queue(self, experiment_id: str, *, user: str) -> ReviewQueue:
        try:
            with self._writing() as conn:
                return sql_review_queues.get_or_create_user_queue(conn, experiment_id, user)
        except AlreadyExistsError:
            # Another process created it meanwhile: the second try finds it.
            with self._writing() as conn:
                return sql_review_queues.get_or_create_user_queue(conn, experiment_id, user)

    def get_review_queue(self, queue_id: str) -> ReviewQueue:
        with self._reading() as conn:
            return sql_review_queues.get_queue(conn, queue_id)

    def get_review_queue_by_name(self, experiment_id: str, name: str) -> ReviewQueue:
        with self._reading() as conn:
            return sql_review_queues.get_queue_by_name(conn, experiment_id, name)

    def list_review_queues(self, experiment_id: str, *, user: str | None = None,
                           item_id: str | None = None, max_results: int = 100,
                           page_token: str | None = None) -> PagedList[ReviewQueue]:
        with self._reading() as conn:
            return sql_review_queues.list_queues(conn, experiment_id, user=user,
                                                 item_id=item_id, max_results=max_results,
                                                 page_token=page_token)

    def update_review_queue(self, queue_id: str, *, name: str | None = None,
                            new_owner: str | None = None, users: Sequence[str] | None = None,
                            schema_ids: Sequence[str] | None = None) -> ReviewQueue:
        with self._writing() as conn:
            return sql_review_queues.update_queue(conn, queue_id, name=name,
                                                  new_owner=new_owner, users=users,
                                                  schema_ids=schema_ids)

    def delete_review_queue(self, queue_id: str) -> None:
        with self._writing() as conn:
            sql_review_queues.delete_queue(conn, queue_id)

    def add_items_to_review_queue(self, queue_id: str,
                                  item_ids: Sequence[str]) -> list[ReviewQueueItem]:
        with self._writing() as conn:
            return sql_review_queues.add_items(conn, queue_id, item_ids)

    def remove_items_from_review_queue(self, queue_id: str, item_ids: Sequence[str]) -> None:
        with self._writing() as conn:
            sql_review_queues.remove_items(conn, queue_id, item_ids)

    def list_review_queue_items(self, queue_id: str, *, status: str | None = None,
                                max_results: int = 100,
                                page_token: str | None = None) -> PagedList[ReviewQueueItem]:
        with self._reading() as conn:
            return sql_review_queues.list_items(conn, queue_id, status=status,
                                                max_results=max_results,
                                                page_token=page_token)

    def set_review_queue_item_status(self, queue_id: str, *, item_id: str, status: str,
                                     completed_by: str | None = None) -> ReviewQueueItem:
        with self._writing() as conn:
            return sql_review_queues.set_item_status(conn, queue_id, item_id=item_id,
                                                     status=status, completed_by=completed_by)

    def list_trace_labeling_sessions(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        ids = sql_runs.check_trace_ids(trace_ids)
        with self._reading() as conn:
            return sql_labeling.sessions_of_traces(conn, ids)


def _experiment_keys(traces: Sequence[Trace]) -> set[int]:
    keys = (parse_experiment_id(t.info.experiment_id) for t in traces)
    return {key for key in keys if key is not None}


def _hash_password(password: str | None) -> str | None:
    # Hashing is slow on purpose, so it happens before any transaction begins.
    if password is None:
        return None
    return credentials.hash_password(sql_users.check_password(password))


def _hold(lock: threading.Lock | None) -> AbstractContextManager[object]:
    return nullcontext() if lock is None else lock

