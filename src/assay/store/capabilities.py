"""What only a server's store does, one protocol per capability, and the store a server needs.

Every backend implements :class:`~assay.store.base.Store`. A server also keeps things no
client has: feedback waiting for its trace, the keys it signs tokens with, and its users.
Each of these is a protocol (checkable with ``isinstance``), so that code which needs one
says which, and a store without it fails at once, by name, instead of raising from a
method that exists but cannot work:

* :class:`PendingAssessments`: assessments (and end users' votes) kept for traces that
  are not stored yet, attached when the trace arrives, dropped when they expire;
* :class:`SigningKeys`: the random keys the server signs feedback tokens and CSRF tokens
  with, shared by every process over one database;
* :class:`Accounts`: users, API keys and sign-ins to the web pages.

:class:`ServerStore` is a Store with all three: what ``assay server`` runs on (the SQL
store, :class:`~assay.store.sql.SqlStore`). :func:`server_store` checks a store is one.
The REST store has none of them: a client asks the server, which uses its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from assay.errors import InvalidParameterError
from assay.store.base import Store

if TYPE_CHECKING:  # for annotations only: `import assay` need not load the user entities
    from datetime import timedelta

    from assay.entities import Assessment, Feedback
    from assay.entities.user import ApiKey, NewApiKey, Role, User

__all__ = [
    "Accounts",
    "PendingAssessments",
    "ServerStore",
    "SigningKeys",
    "server_store",
]


@runtime_checkable
class PendingAssessments(Protocol):
    """Assessments kept for traces that are not stored yet, and end users' votes."""

    def keep_pending_assessment(self, assessment: Assessment,
                                expires_in_seconds: float) -> Assessment:
        """Keep an assessment for a trace not stored yet (its id of Assay's form), with the
        id it will keep; it is attached when the trace is written, or dropped once
        ``expires_in_seconds`` have passed.

        AlreadyExistsError when the trace is stored (log the assessment instead);
        InvalidParameterError for a malformed trace id or a session-level assessment;
        NotFoundError when ``overrides`` names no pending assessment of the trace.
        """
        ...

    def log_vote(self, vote: Feedback, expires_in_seconds: float) -> tuple[Feedback, bool]:
        """Record an end user's vote (a HUMAN feedback on a whole trace whose source id is
        the voter): log it on its trace, or keep it pending (as
        :meth:`keep_pending_assessment`) while the trace is not stored. Return it as stored
        and whether it is pending.

        It overrides the voter's valid vote of the same name on the trace, stored or
        pending (``vote.overrides`` is ignored), in one transaction that other votes of the
        same voter, trace and name wait for: however many arrive at once, one stays valid.
        InvalidParameterError for a vote that is not a HUMAN feedback with a source id on a
        whole trace, and as :meth:`~assay.store.base.Store.log_assessment`.
        """
        ...

    def list_pending_assessments(self, trace_id: str) -> list[Assessment]:
        """The assessments kept for a trace not stored yet, oldest first (one overridden by a
        later one has ``valid=False``)."""
        ...

    def attach_stored_pending_assessments(self) -> int:
        """Attach the pending assessments whose trace is stored (it was written at the very
        moment they were kept, without seeing them); return how many."""
        ...

    def expire_pending_assessments(self, now_ms: int | None = None) -> int:
        """Drop the pending assessments whose time is up (at ``now_ms``, default now) and
        return how many."""
        ...

    def count_pending_assessments(self) -> int:
        """How many assessments wait for their trace."""
        ...


@runtime_checkable
class SigningKeys(Protocol):
    """The server's signing keys."""

    def signing_key(self, purpose: str) -> bytes:
        """The server's random key for ``purpose`` (e.g. "feedback_token"), created on first
        use and shared by every process over the same database."""
        ...


@runtime_checkable
class Accounts(Protocol):
    """Users, their API keys, and their sign-ins to the web pages."""

    def create_user(self, username: str, role: Role | str,
                    password: str | None = None) -> User:
        """Create a user (a password lets them sign in to the web pages; without one they
        only use API keys); AlreadyExistsError if the name is taken."""
        ...

    def get_user(self, username: str) -> User:
        """The user with this name; NotFoundError otherwise."""
        ...

    def find_user_by_name(self, username: str) -> User | None:
        """The user with this name, or None."""
        ...

    def list_users(self) -> list[User]:
        """Every user, by name."""
        ...

    def set_user_role(self, username: str, role: Role | str) -> User:
        """Give a user another role."""
        ...

    def disable_user(self, username: str) -> User:
        """Disable a user: signed out everywhere, keys refused (until enabled again)."""
        ...

    def enable_user(self, username: str) -> User:
        """Enable a disabled user again (their keys work again)."""
        ...

    def set_password(self, username: str, password: str | None) -> None:
        """Set (or, with None, remove) a user's password; signs them out everywhere."""
        ...

    def authenticate_password(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs and they are enabled; None otherwise (unknown
        users take as long as known ones). A hash made with older parameters is renewed."""
        ...

    def create_api_key(self, username: str, name: str,
                       expires_in: timedelta | None = None) -> NewApiKey:
        """Create an API key for a user: ``key_id, token = store.create_api_key(...)``. The
        token (``assay_<key_id>_<secret>``) is the only copy of the secret: only its SHA-256
        is stored."""
        ...

    def list_api_keys(self, username: str | None = None) -> list[ApiKey]:
        """The keys of one user, or of everyone, oldest first (never their secrets)."""
        ...

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key for good; NotFoundError if there is no such key."""
        ...

    def authenticate_api_key(self, token: str) -> User | None:
        """The user a key (``assay_<key_id>_<secret>``) authenticates; None if it is
        malformed, unknown, revoked or expired, or its user is disabled. Records when the key
        was used, at most once a minute."""
        ...

    def verify_api_key(self, token: str) -> tuple[User, int | None] | None:
        """As :meth:`authenticate_api_key`, with when the key expires (ms since the epoch,
        None for never), so that whoever remembers the answer forgets it by then."""
        ...

    def create_login_session(self, username: str) -> str:
        """Sign a user in to the web pages: the session cookie's value (stored hashed)."""
        ...

    def find_login_session(self, token: str) -> User | None:
        """The user a session cookie signs in, or None (unknown, expired, disabled)."""
        ...

    def delete_login_session(self, token: str) -> None:
        """Sign a session out."""
        ...


class ServerStore(Store, PendingAssessments, SigningKeys, Accounts):
    """A :class:`~assay.store.base.Store` with every server-side capability: what a server
    runs on. Its subclasses implement every method of the four."""


#: Each capability with what a message calls it.
_CAPABILITIES: tuple[tuple[type, str], ...] = (
    (PendingAssessments, "pending assessments"),
    (SigningKeys, "signing keys"),
    (Accounts, "accounts"),
)


def server_store(store: Store) -> ServerStore:
    """``store``, if a server can run on it.

    Raises:
        InvalidParameterError: naming the capabilities the store lacks (a REST store has
            none: a server cannot be run over another server).
    """
    if isinstance(store, ServerStore):
        return store
    missing = [name for kind, name in _CAPABILITIES if not isinstance(store, kind)]
    lacks = ", ".join(missing) if missing else "the ServerStore interface"
    raise InvalidParameterError(
        f"A server needs a store that keeps pending assessments, signing keys and accounts "
        f"(a sqlite:// or postgresql:// one); {type(store).__name__} ({store.uri}) lacks "
        f"{lacks}")
