"""Automatic tracing of the OpenAI Python client: ``assay.openai.autolog()``.

::

    import assay
    from openai import OpenAI

    assay.openai.autolog()
    client = OpenAI()
    client.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "Hi"}])

Each call of ``chat.completions.create`` / ``.parse``, ``completions.create``,
``embeddings.create`` and ``responses.create`` / ``.parse`` (on ``OpenAI`` and ``AsyncOpenAI``
clients, and on the ``openai`` module's own client) becomes a span: a child of the current
span, or the root of a new trace. Importing this module does not import ``openai``;
``autolog()`` does.

=========================  ======================  =========================================
method                     span type               outputs
=========================  ======================  =========================================
chat.completions           CHAT_MODEL              the ``ChatCompletion``
completions                LLM                     the ``Completion``
embeddings                 EMBEDDING               the ``CreateEmbeddingResponse``
responses                  CHAT_MODEL              the ``Response``
=========================  ======================  =========================================

The span is named after the resource class (``Completions``, ``AsyncResponses``, ...), as in
MLflow. Its inputs are the call's keyword arguments (``extra_headers`` and ``extra_query``
left out: they can carry credentials); its attributes are the invocation parameters, the model
(``mlflow.llm.model``), the token usage (``mlflow.chat.tokenUsage``, summed into the trace's),
``mlflow.message.format`` and the tools offered (``mlflow.chat.tools``). A call that raises
gives an ERROR span with the exception recorded, and the exception reaches the caller
untouched. Streams (``stream=True``) are recorded as they are read, see
:mod:`assay.openai._stream`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MIN_OPENAI_VERSION", "autolog"]

_log = logging.getLogger("assay.openai")

#: The oldest openai release autolog is made for (the Responses API appeared in it).
MIN_OPENAI_VERSION = (1, 66)

_lock = threading.Lock()


def autolog(disable: bool = False, exclusive: bool = False,
            disable_for_unsupported_versions: bool = False, silent: bool = False,
            log_traces: bool = True, disable_openai_agent_tracer: bool = True) -> None:
    """Trace every call of the OpenAI client from now on (MLflow's ``mlflow.openai.autolog``).

    Calling it again changes the options; the methods are never wrapped twice.

    Args:
        disable: take the wrappers out, putting back the original methods.
        exclusive: accepted for MLflow compatibility; Assay has no runs to keep traces from.
        disable_for_unsupported_versions: do nothing when the installed openai is older than
            :data:`MIN_OPENAI_VERSION` (otherwise autolog tries it, with a warning).
        silent: keep Assay's own messages about autolog (setup, and anything that fails
            inside the recording) at debug level.
        log_traces: ``False`` records nothing, as ``disable=True`` does.
        disable_openai_agent_tracer: accepted for MLflow compatibility; Assay does not
            install a tracer into the OpenAI Agents SDK.

    Raises:
        ImportError: when the ``openai`` package is not installed (and autolog is being
            turned on).
    """
    del exclusive, disable_openai_agent_tracer  # nothing to do: see the docstring
    # Imported on first use: ``import assay`` imports this module, and an application that
    # does not trace OpenAI should not pay for the wrappers.
    from assay.openai._patch import TARGETS, patch, unpatch

    log = _log.debug if silent else _log.warning
    with _lock:
        if disable or not log_traces:
            if _openai_imported():
                unpatch(TARGETS)
            return
        try:
            import openai
        except ImportError as exc:
            raise ImportError("assay.openai.autolog() needs the openai package: "
                              "pip install 'assay[openai]'") from exc
        version = _version(getattr(openai, "__version__", ""))
        if version is not None and version < MIN_OPENAI_VERSION:
            wanted = ".".join(map(str, MIN_OPENAI_VERSION))
            if disable_for_unsupported_versions:
                log("Assay's OpenAI autolog is off: openai %s is older than %s",
                    openai.__version__, wanted)
                unpatch(TARGETS)
                return
            log("Assay's OpenAI autolog is made for openai %s or later, not %s; "
                "methods this version lacks are not traced", wanted, openai.__version__)
        unpatch(TARGETS)  # re-applying takes the options given now
        patched = patch(TARGETS, _logger(silent))
        if patched == 0:
            log("Assay's OpenAI autolog found no method to trace in openai %s",
                getattr(openai, "__version__", "?"))


def _logger(silent: bool) -> Callable[..., None]:
    def log(message: str, *args: Any, exc_info: bool = False) -> None:
        if silent:
            _log.debug(message, *args, exc_info=exc_info)
        else:
            _log.warning(message, *args, exc_info=exc_info)

    return log


def _openai_imported() -> bool:
    import sys

    return "openai" in sys.modules


def _version(text: str) -> tuple[int, int] | None:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None
