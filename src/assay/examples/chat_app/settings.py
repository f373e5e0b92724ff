"""The chat app's settings, read once from the environment.

==========================  ==========================  =====================================
variable                    default                     meaning
==========================  ==========================  =====================================
``ASSAY_TRACKING_URI``      ``sqlite:///assay.db``      where traces go (read by Assay itself),
                                                        e.g. ``http://127.0.0.1:5000``
``CHAT_APP_EXPERIMENT``     ``chat-app``                the experiment of the app's traces
``OPENAI_BASE_URL``         unset                       an OpenAI-compatible endpoint
``OPENAI_API_KEY``          unset                       its key; with either one set, answers
                                                        come from that endpoint, else from
                                                        the offline responder
``CHAT_APP_MODEL``          ``gpt-4o-mini``             the model asked at that endpoint
``CHAT_APP_ASSAY_URL``      unset                       the Assay server as end users'
                                                        browsers reach it: when set, each
                                                        answer gets a feedback token and the
                                                        page's thumbs go to the server through
                                                        the ``<assay-feedback>`` widget
``CHAT_APP_TOKEN_DELAY``    ``0.03``                    seconds between the offline
                                                        responder's words (0: no pause)
``APP_ENVIRONMENT``         ``development``             trace metadata ``environment``
``APP_VERSION``             ``1.0.0``                   trace metadata ``app_version``
==========================  ==========================  =====================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ChatAppSettings"]


@dataclass(frozen=True)
class ChatAppSettings:
    """How the chat app runs (see the module's table for the environment variables).

    Attributes:
        experiment_name: the experiment of the app's traces (created on first use).
        model: the model asked at the OpenAI-compatible endpoint.
        openai_base_url: that endpoint; None is OpenAI's own when ``openai_api_key`` is set.
        openai_api_key: its key.
        assay_url: the Assay server's base URL as browsers reach it, or None.
        token_delay_seconds: the offline responder's pause between words.
        feedback_token_seconds: how long an answer's feedback token stays valid.
        environment: recorded on every trace as metadata ``environment``.
        app_version: recorded on every trace as metadata ``app_version``.
    """

    experiment_name: str = "chat-app"
    model: str = "gpt-4o-mini"
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    assay_url: str | None = None
    token_delay_seconds: float = 0.03
    feedback_token_seconds: int = 3600
    environment: str = "development"
    app_version: str = "1.0.0"

    def __post_init__(self) -> None:
        if not self.experiment_name.strip():
            raise ValueError("CHAT_APP_EXPERIMENT must not be blank")
        if not self.model.strip():
            raise ValueError("CHAT_APP_MODEL must not be blank")
        if not 0 <= self.token_delay_seconds <= 10:
            raise ValueError(f"Invalid CHAT_APP_TOKEN_DELAY {self.token_delay_seconds!r}: "
                             "expected seconds from 0 to 10")
        if self.assay_url is not None:
            parts = urlsplit(self.assay_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"Invalid CHAT_APP_ASSAY_URL {self.assay_url!r}: expected "
                                 "the server's base URL, e.g. http://127.0.0.1:5000")

    @property
    def uses_openai(self) -> bool:
        """Whether answers come from an OpenAI-compatible endpoint (else: offline)."""
        return bool(self.openai_base_url or self.openai_api_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChatAppSettings:
        """The settings the environment gives (``os.environ`` by default).

        Raises:
            ValueError: a variable with a value the app cannot use, naming it.
        """
        env = os.environ if environ is None else environ
        delay_text = env.get("CHAT_APP_TOKEN_DELAY", "").strip()
        try:
            delay = float(delay_text) if delay_text else cls.token_delay_seconds
        except ValueError:
            raise ValueError(f"Invalid CHAT_APP_TOKEN_DELAY {delay_text!r}: expected a "
                             "number of seconds, e.g. 0.03") from None
        assay_url = env.get("CHAT_APP_ASSAY_URL", "").strip().rstrip("/") or None
        return cls(
            experiment_name=env.get("CHAT_APP_EXPERIMENT") or cls.experiment_name,
            model=env.get("CHAT_APP_MODEL") or cls.model,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            assay_url=assay_url,
            token_delay_seconds=delay,
            environment=env.get("APP_ENVIRONMENT") or cls.environment,
            app_version=env.get("APP_VERSION") or cls.app_version,
        )
