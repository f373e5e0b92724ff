"""Users of a server started with ``--auth``, their roles, and their API keys."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiKey", "NewApiKey", "Role", "User"]


class Role(enum.StrEnum):
    """What a user may do (the full table is in ``assay.server.permissions``).

    * ``admin``: everything a member does, and manages users and API keys.
    * ``member``: reads and writes traces, assessments and experiments.
    * ``reviewer``: reads and labels only the items assigned to them.
    * ``viewer``: reads everything, writes nothing.
    """

    ADMIN = "admin"
    MEMBER = "member"
    REVIEWER = "reviewer"
    VIEWER = "viewer"


@dataclass(frozen=True)
class User:
    """A user: a unique name, a role, and whether they may sign in to the web pages.

    Attributes:
        username: the unique name.
        role: what the user may do.
        created_time_ms: when the user was created (milliseconds since the epoch).
        disabled: a disabled user's keys and sessions are refused.
        has_password: whether the user can sign in to the web pages (users without a
            password only use API keys).
    """

    username: str
    role: Role
    created_time_ms: int
    disabled: bool = False
    has_password: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role.value,
                "created_time_ms": self.created_time_ms, "disabled": self.disabled,
                "has_password": self.has_password}


@dataclass(frozen=True)
class ApiKey:
    """An API key as listings show it: never its secret, which only its owner ever saw.

    Attributes:
        key_id: the public part of the key (``assay_<key_id>_<secret>``), to name it.
        username: whose key it is; requests made with it act as that user.
        name: what the key is for, as given when it was created.
        created_time_ms: when it was created.
        last_used_time_ms: when it last authenticated a request (updated at most once a
            minute), None if never.
        expires_time_ms: when it stops working, None for never.
        revoked: a revoked key is refused.
    """

    key_id: str
    username: str
    name: str
    created_time_ms: int
    last_used_time_ms: int | None = None
    expires_time_ms: int | None = None
    revoked: bool = False

    def is_active(self, now_ms: int) -> bool:
        """Whether the key authenticates requests at ``now_ms``."""
        return not self.revoked and (self.expires_time_ms is None
                                     or now_ms < self.expires_time_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "username": self.username, "name": self.name,
                "created_time_ms": self.created_time_ms,
                "last_used_time_ms": self.last_used_time_ms,
                "expires_time_ms": self.expires_time_ms, "revoked": self.revoked}


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``token`` is the whole key, shown this once and never stored.

    Unpacks as ``key_id, token = store.create_api_key(...)``.
    """

    key_id: str
    token: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.key_id, self.token))

    def __repr__(self) -> str:
        # The token is a secret: keep it out of reprs, logs and tracebacks.
        return f"NewApiKey(key_id={self.key_id!r}, token='***')"
