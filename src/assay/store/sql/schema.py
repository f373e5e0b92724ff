"""The tables of the SQL store, as SQLAlchemy Core ``Table`` objects.

This is what queries are written against. The database itself is created and changed only by
the Alembic migrations in ``migrations/versions``; a test checks that the two agree.

Conventions: plural snake-case table names, an integer surrogate key ``id`` plus unique
natural keys, UTC times as integers whose unit is in the name (``_ms``, ``_ns``), JSON stored
as text, and constraint names fixed by :data:`NAMING_CONVENTION`.
"""

from __future__ import annotations

import sqlalchemy as sa

from assay.store.checks import MAX_KEY_CHARS
from assay.store.sql.dialect import ID_TYPE, Dialect, value_lookup_index

__all__ = [
    "MAX_KEY_CHARS",
    "NAMING_CONVENTION",
    "api_keys",
    "assessments",
    "dataset_experiments",
    "dataset_records",
    "dataset_tags",
    "dataset_versions",
    "datasets",
    "experiments",
    "label_schemas",
    "labeling_adjudications",
    "labeling_gold",
    "labeling_reviewers",
    "labeling_reviews",
    "labeling_routed_traces",
    "labeling_routing_rules",
    "labeling_sessions",
    "login_sessions",
    "metadata",
    "pending_assessments",
    "run_traces",
    "runs",
    "signing_keys",
    "spans",
    "trace_metadata",
    "trace_tags",
    "traces",
    "users",
]

#: Constraint names are part of the schema (migrations refer to them), so they are never left
#: to each database's own defaults.
NAMING_CONVENTION: dict[str, str] = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

experiments = sa.Table(
    "experiments",
    metadata,
    # The API exposes the id as a string ("0", "1", …), as MLflow does.
    sa.Column("experiment_id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False),
    sa.Column("creation_time_ms", sa.BigInteger, nullable=False),
    sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),  # JSON object
    sa.UniqueConstraint("name"),
    sa.Index(None, "creation_time_ms"),
)

traces = sa.Table(
    "traces",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("trace_id", sa.String(64), nullable=False),
    sa.Column("experiment_id", ID_TYPE, sa.ForeignKey(experiments.c.experiment_id),
              nullable=False),
    sa.Column("request_time_ms", sa.BigInteger, nullable=False),
    sa.Column("execution_time_ms", sa.BigInteger, nullable=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=True),  # the tag mlflow.traceName
    sa.Column("client_request_id", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("session_id", sa.String(MAX_KEY_CHARS), nullable=True),  # mlflow.trace.session
    sa.Column("user_id", sa.String(MAX_KEY_CHARS), nullable=True),  # mlflow.trace.user
    sa.Column("request_preview", sa.Text, nullable=True),
    sa.Column("response_preview", sa.Text, nullable=True),
    sa.Column("input_tokens", sa.BigInteger, nullable=True),  # mlflow.trace.tokenUsage
    sa.Column("output_tokens", sa.BigInteger, nullable=True),
    sa.Column("total_tokens", sa.BigInteger, nullable=True),
    sa.Column("run_id", sa.String(MAX_KEY_CHARS), nullable=True),  # mlflow.sourceRun
    sa.UniqueConstraint("trace_id"),
    sa.Index(None, "experiment_id", "request_time_ms"),
    sa.Index(None, "client_request_id"),
    # a user's or session's traces in time order (search pages, sessions)
    sa.Index(None, "session_id", "request_time_ms"),
    sa.Index(None, "user_id", "request_time_ms"),
    sa.Index(None, "run_id"),
    sa.Index(None, "experiment_id", "execution_time_ms", "request_time_ms"),  # order by duration
    sa.Index(None, "trace_id", "experiment_id", "request_time_ms"),  # covers analytics joins
)


def _key_value_table(name: str, key_type: sa.types.TypeEngine[str]) -> sa.Table:
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("trace_id", sa.String(64),
                  sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
        sa.Column("key", key_type, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.UniqueConstraint("trace_id", "key"),
    )
    for dialect in Dialect:
        index_name, columns, kwargs = value_lookup_index(dialect, name)
        sa.Index(index_name, *(table.c[c] for c in columns), **kwargs).ddl_if(
            dialect=dialect.value)
    return table


#: Mutable key/value pairs of a trace (set_trace_tag, the UI).
trace_tags = _key_value_table("trace_tags", sa.String(MAX_KEY_CHARS))
#: Key/value pairs set when the trace was logged, reserved keys included.
trace_metadata = _key_value_table("trace_metadata", sa.Text())

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("span_id", sa.String(16), nullable=False),
    sa.Column("parent_id", sa.String(16), nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("span_type", sa.Text, nullable=False),
    sa.Column("status_code", sa.String(16), nullable=False),
    sa.Column("status_message", sa.Text, nullable=False),
    sa.Column("start_time_ns", sa.BigInteger, nullable=False),
    sa.Column("end_time_ns", sa.BigInteger, nullable=True),
    sa.Column("inputs", sa.Text, nullable=True),  # JSON text, exactly as recorded
    sa.Column("outputs", sa.Text, nullable=True),  # JSON text, exactly as recorded
    sa.Column("attributes", sa.Text, nullable=False),  # JSON object
    sa.Column("events", sa.Text, nullable=False),  # JSON list of SpanEvent.to_dict()
    sa.UniqueConstraint("trace_id", "span_id"),
)

#: Feedback and expectations. ``value`` is the JSON text of the value as given and
#: ``numeric_value`` its projection for aggregation in SQL (booleans 0/1, numbers as they
#: are, anything else NULL); only ``valid`` rows count, overridden ones stay for history.
#: ``experiment_id`` copies the trace's, so analytics of an experiment need no join, and
#: ``session_id`` is set for session-level assessments (metadata ``mlflow.trace.session``).
assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("assessment_id", sa.String(64), nullable=False),  # "a-" + 32 hex
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("experiment_id", ID_TYPE, nullable=False),
    sa.Column("span_id", sa.String(16), nullable=True),
    sa.Column("session_id", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "feedback" | "expectation"
    sa.Column("value", sa.Text, nullable=True),  # JSON text; NULL for none
    sa.Column("numeric_value", sa.Double, nullable=True),
    sa.Column("error", sa.Text, nullable=True),  # JSON object (AssessmentError)
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("source_id", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("rationale", sa.Text, nullable=True),
    sa.Column("metadata", sa.Text, nullable=False),  # JSON object of str to str
    sa.Column("create_time_ms", sa.BigInteger, nullable=False),
    sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
    sa.Column("overrides", sa.String(64), nullable=True),  # the assessment_id superseded
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("run_id", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("idempotency_key", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.UniqueConstraint("assessment_id"),
    # NULLs are distinct in a unique constraint on SQLite and PostgreSQL alike, so only
    # assessments logged with a key are constrained.
    sa.UniqueConstraint("idempotency_key"),
    sa.CheckConstraint("kind IN ('feedback', 'expectation')", name="kind"),
    sa.Index(None, "trace_id"),
    # Partial: only session-level assessments have a session id (see migration 0003).
    sa.Index(None, "session_id", "experiment_id", sqlite_where=sa.text("session_id IS NOT NULL"),
             postgresql_where=sa.text("session_id IS NOT NULL")),
    sa.Index(None, "overrides"),
    sa.Index(None, "experiment_id", "name", "valid"),
    # A labeling session's current answers to a question, oldest first (migration 0008).
    sa.Index(None, "run_id", "name", "valid", "source_type", "create_time_ms"),
)

# -- the server's own tables (migration 0004) ------------------------------------------------

#: Who may use a server started with ``--auth``. ``password_hash`` is NULL for users who only
#: use API keys.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # admin | member | reviewer | viewer
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.UniqueConstraint("username"),
    sa.CheckConstraint("role IN ('admin', 'member', 'reviewer', 'viewer')", name="role"),
)

#: API keys, kept as a hash of the secret; ``key_id`` is the public part shown in listings.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(128), nullable=False),
    sa.Column("user_id", ID_TYPE, sa.ForeignKey(users.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("last_used_time_ms", sa.BigInteger, nullable=True),
    sa.Column("expires_time_ms", sa.BigInteger, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.UniqueConstraint("key_id"),
    sa.Index(None, "user_id"),
)

#: Logins of the web pages, by the hash of the session cookie's value.
login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("session_hash", sa.String(128), nullable=False),
    sa.Column("user_id", ID_TYPE, sa.ForeignKey(users.c.id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("session_hash"),
    sa.Index(None, "user_id"),
    sa.Index(None, "expires_time_ms"),
)

#: Random secrets by purpose (feedback tokens, CSRF), created on first use and shared by every
#: process over the database.
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("purpose"),
)

#: Assessments for a trace that has not arrived yet (``payload`` is the assessment's JSON);
#: attached when the trace is written, dropped once ``expires_time_ms`` has passed.
pending_assessments = sa.Table(
    "pending_assessments",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("assessment_id", sa.String(64), nullable=False),
    sa.Column("trace_id", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_time_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("assessment_id"),
    sa.Index(None, "trace_id"),
    sa.Index(None, "expires_time_ms"),
)


# -- runs and label schemas (migration 0005) -------------------------------------------------

#: Labeling sessions and evaluations. ``params``, ``metrics`` and ``tags`` are JSON objects.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("experiment_id", ID_TYPE, sa.ForeignKey(experiments.c.experiment_id),
              nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # labeling | evaluation
    sa.Column("status", sa.String(16), nullable=False),  # RUNNING | FINISHED | FAILED | KILLED
    sa.Column("start_time_ms", sa.BigInteger, nullable=False),
    sa.Column("end_time_ms", sa.BigInteger, nullable=True),
    sa.Column("user_id", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id"),
    sa.CheckConstraint("kind IN ('labeling', 'evaluation')", name="kind"),
    sa.Index(None, "experiment_id", "start_time_ms"),
)

#: Which traces are in which run (a labeling session's items, an evaluation's rows); a
#: trace may be in several runs. ``id`` orders a run's traces as they were added.
run_traces = sa.Table(
    "run_traces",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("added_time_ms", sa.BigInteger, nullable=False),
    # Labeling sessions: how many reviewers completed this item (the next item to hand out
    # is found among those with fewer than the session needs).
    sa.Column("completed_reviews", sa.Integer, nullable=False, server_default="0"),
    # Review queues (migration 0009): the item's status shared by the queue's reviewers
    # (NULL: pending), who completed or declined it and when, and when its status last
    # changed (NULL: when it was added).
    sa.Column("review_status", sa.String(16), nullable=True),
    sa.Column("completed_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("completed_time_ms", sa.BigInteger, nullable=True),
    sa.Column("status_time_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("run_id", "trace_id"),
    sa.Index(None, "trace_id"),
    sa.Index(None, "run_id", "completed_reviews", "id"),
    sa.Index(None, "run_id", "review_status", "id"),
)

#: The questions of labeling sessions, unique by name in an experiment. ``input`` is the
#: JSON form of the input (``{"categorical": {"options": [...]}}``).
label_schemas = sa.Table(
    "label_schemas",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("schema_id", sa.String(64), nullable=False),
    sa.Column("experiment_id", ID_TYPE, sa.ForeignKey(experiments.c.experiment_id),
              nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),  # feedback | expectation
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("instruction", sa.Text, nullable=True),
    sa.Column("enable_comment", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("schema_id"),
    sa.UniqueConstraint("experiment_id", "name"),
    sa.CheckConstraint("type IN ('feedback', 'expectation')", name="type"),
)

#: A labeling session's settings; the session is the run of the same id. ``label_schemas``
#: is a JSON list of schema names, in the order they are asked.
labeling_sessions = sa.Table(
    "labeling_sessions",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey(runs.c.run_id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("reviewers_per_item", sa.Integer, nullable=False),
    sa.Column("label_schemas", sa.Text, nullable=False),
    sa.Column("instructions", sa.Text, nullable=True),
    # Counts the writes that can change the session's answers, adjudications or items
    # (migration 0008): what is computed from all its answers is kept until it moves.
    sa.Column("answers_version", sa.BigInteger, nullable=False, server_default="0"),
    # Review queues (migration 0009): a session that is one has its type (user | custom),
    # a key unique per experiment regardless of case ("<experiment id>/<lower-cased name>"),
    # and the time it was last changed; other sessions have NULL in all three.
    sa.Column("queue_type", sa.String(8), nullable=True),
    sa.Column("queue_key", sa.String(300), nullable=True),
    sa.Column("queue_updated_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("run_id"),
    sa.Index(None, "queue_key", unique=True),
)

#: Who is assigned to review a session's items (none: anyone may).
labeling_reviewers = sa.Table(
    "labeling_reviewers",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32),
              sa.ForeignKey(labeling_sessions.c.run_id, ondelete="CASCADE"), nullable=False),
    sa.Column("reviewer", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.UniqueConstraint("run_id", "reviewer"),
    sa.Index(None, "reviewer"),
)

#: Each reviewer's state on each item of a session: in_progress (claimed until
#: ``claim_expires_ms``), completed or skipped. No row: pending.
labeling_reviews = sa.Table(
    "labeling_reviews",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32),
              sa.ForeignKey(labeling_sessions.c.run_id, ondelete="CASCADE"), nullable=False),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("reviewer", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claim_expires_ms", sa.BigInteger, nullable=True),
    sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("run_id", "trace_id", "reviewer"),
    sa.CheckConstraint("state IN ('in_progress', 'completed', 'skipped')", name="state"),
    sa.Index(None, "run_id", "reviewer", "state"),
    sa.Index(None, "trace_id"),
)


# -- gold labels and routing rules (migration 0006) ------------------------------------------

#: The final value an adjudicator set for one (session, item, schema), as JSON.
labeling_adjudications = sa.Table(
    "labeling_adjudications",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32),
              sa.ForeignKey(labeling_sessions.c.run_id, ondelete="CASCADE"), nullable=False),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("adjudicator", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("run_id", "trace_id", "name"),
    sa.Index(None, "trace_id"),
)

#: The gold label of each (session, item, schema) that has one (see ``rules.gold_label``),
#: kept by every write that changes it. ``value`` is JSON as in ``assessments`` (so filters
#: compare it the same way), ``numeric_value`` its numeric projection.
labeling_gold = sa.Table(
    "labeling_gold",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32),
              sa.ForeignKey(labeling_sessions.c.run_id, ondelete="CASCADE"), nullable=False),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("numeric_value", sa.Double, nullable=True),
    sa.Column("adjudicated", sa.Boolean, nullable=False),
    sa.Column("updated_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("run_id", "trace_id", "name"),
    sa.Index(None, "trace_id", "name"),
)

#: Routing rules: traces of ``experiment_id`` matching ``filter_string`` (a share
#: ``sample_rate`` of them, chosen by a hash of rule and trace) are added to the session as
#: they are written. ``hit_count`` counts the traces routed.
labeling_routing_rules = sa.Table(
    "labeling_routing_rules",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(32),
              sa.ForeignKey(labeling_sessions.c.run_id, ondelete="CASCADE"), nullable=False),
    sa.Column("experiment_id", ID_TYPE, sa.ForeignKey(experiments.c.experiment_id),
              nullable=False),
    sa.Column("filter_string", sa.Text, nullable=False),
    sa.Column("sample_rate", sa.Double, nullable=False),
    sa.Column("hit_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("rule_id"),
    sa.Index(None, "experiment_id"),
    sa.Index(None, "run_id"),
)

#: The traces each routing rule has routed: a rule routes a trace once only.
labeling_routed_traces = sa.Table(
    "labeling_routed_traces",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.String(64),
              sa.ForeignKey(labeling_routing_rules.c.rule_id, ondelete="CASCADE"),
              nullable=False),
    sa.Column("trace_id", sa.String(64),
              sa.ForeignKey(traces.c.trace_id, ondelete="CASCADE"), nullable=False),
    sa.Column("routed_time_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("rule_id", "trace_id"),
    sa.Index(None, "trace_id"),
)


# -- evaluation datasets (migration 0007) ----------------------------------------------------

#: Evaluation datasets, unique by name; ``version`` is the latest (0: created, no change yet).
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(34), nullable=False),
    sa.Column("name", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("last_updated_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.UniqueConstraint("dataset_id"),
    sa.UniqueConstraint("name"),
    sa.Index(None, "created_time_ms"),
    sa.Index(None, "last_update_time_ms"),
)

#: Which experiments a dataset belongs to (one or more).
dataset_experiments = sa.Table(
    "dataset_experiments",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(34),
              sa.ForeignKey(datasets.c.dataset_id, ondelete="CASCADE"), nullable=False),
    sa.Column("experiment_id", ID_TYPE, sa.ForeignKey(experiments.c.experiment_id),
              nullable=False),
    sa.UniqueConstraint("dataset_id", "experiment_id"),
    sa.Index(None, "experiment_id"),
)

#: A dataset's tags (not versioned), one row a key, for filters on ``tags.<key>``.
dataset_tags = sa.Table(
    "dataset_tags",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(34),
              sa.ForeignKey(datasets.c.dataset_id, ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(MAX_KEY_CHARS), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.UniqueConstraint("dataset_id", "key"),
)

#: Each version of a dataset: when it was made, by whom, and how many records it holds.
dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(34),
              sa.ForeignKey(datasets.c.dataset_id, ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("num_records", sa.Integer, nullable=False),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.UniqueConstraint("dataset_id", "version"),
)

#: Records, each row one state of a record: it is in versions ``valid_from`` up to (not
#: including) ``valid_to`` (NULL: still current). A change writes rows only for the records
#: it touches, so a version costs what changed, not a copy of the dataset. ``record_id``
#: stays the same across a record's rows; ``inputs_digest`` is what makes records unique.
dataset_records = sa.Table(
    "dataset_records",
    metadata,
    sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(34),
              sa.ForeignKey(datasets.c.dataset_id, ondelete="CASCADE"), nullable=False),
    sa.Column("record_id", sa.String(35), nullable=False),
    sa.Column("inputs_digest", sa.String(64), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=True),
    sa.Column("expectations", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("created_time_ms", sa.BigInteger, nullable=False),
    sa.Column("last_update_time_ms", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("last_updated_by", sa.String(MAX_KEY_CHARS), nullable=True),
    sa.Column("valid_from", sa.Integer, nullable=False),
    sa.Column("valid_to", sa.Integer, nullable=True),
    # The record's place in its dataset (1, 2, ... as records were first added), kept by
    # every row of the record: records are listed in this order.
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("dataset_id", "inputs_digest", "valid_from"),
    sa.Index(None, "dataset_id", "record_id"),
    sa.Index(None, "dataset_id", "position"),
)
