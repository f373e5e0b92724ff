"""One OpenAI API call as a span: what is recorded when the call starts, returns or fails.

A call's span holds the request's keyword arguments as inputs (less the transport ones, which
can carry credentials), the invocation parameters as attributes, the response as a dict as
outputs, the model and the token usage. While the call runs the span is the current span, so
other OpenTelemetry instrumentation nests under it, and its W3C trace context is sent in the
request headers, so that a traced gateway can link its own spans to it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from assay import _json, _runtime
from assay.entities.span import SpanType
from assay.tracing.assembly import TOKEN_USAGE_KEY
from assay.tracing.live_span import LiveSpan

__all__ = [
    "MESSAGE_FORMAT_KEY",
    "MODEL_KEY",
    "TOOLS_KEY",
    "Call",
    "Endpoint",
    "Kind",
    "as_dict",
    "start_call",
    "token_usage",
]

_log = logging.getLogger("assay.openai")

#: The attribute naming the chat format of a span's inputs and outputs (MLflow's key).
MESSAGE_FORMAT_KEY = "mlflow.message.format"
#: The attribute holding the tools offered to the model, in Chat Completions form.
TOOLS_KEY = "mlflow.chat.tools"
#: The attribute holding the model that answered (or, failing that, the one asked for).
MODEL_KEY = "mlflow.llm.model"

# Arguments about the transport, not the request: headers and query parameters can carry
# API keys, so they are never recorded.
_TRANSPORT_ARGUMENTS = frozenset(("extra_headers", "extra_query"))
# Arguments the library's helpers pass as None when the caller did not give them.
_NONE_WHEN_NOT_GIVEN = frozenset(("extra_body", "timeout"))
_IMMUTABLE = (str, int, float, bool, type(None))


class Kind(enum.Enum):
    """The API an endpoint belongs to; it decides how responses and streams are read."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a patched method records: its API, its span type, and which arguments are the
    content (inputs only) rather than invocation parameters (inputs and attributes)."""

    kind: Kind
    span_type: str
    content_arguments: frozenset[str]


CHAT = Endpoint(Kind.CHAT, SpanType.CHAT_MODEL, frozenset(("messages", "tools")))
COMPLETION = Endpoint(Kind.COMPLETION, SpanType.LLM, frozenset(("prompt", "suffix")))
EMBEDDING = Endpoint(Kind.EMBEDDING, SpanType.EMBEDDING, frozenset(("input",)))
RESPONSE = Endpoint(Kind.RESPONSE, SpanType.CHAT_MODEL,
                    frozenset(("input", "instructions", "tools")))


class Call:
    """The span of one API call, current while the call runs."""

    __slots__ = ("endpoint", "kwargs", "log", "request_model", "span", "token")

    def __init__(self, span: LiveSpan, endpoint: Endpoint, kwargs: dict[str, Any],
                 request_model: Any, token: object, log: Callable[..., None]) -> None:
        self.span = span
        self.endpoint = endpoint
        self.kwargs = kwargs  # the arguments to call with (trace context headers added)
        self.request_model = request_model
        self.token = token
        self.log = log  # where failures of the recording itself are reported

    def detach(self) -> None:
        """Stop being the current span (the call has returned)."""
        token, self.token = self.token, None
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]

    def finish(self, response: Any) -> None:
        """Record a response that is not a stream and end the span."""
        self.detach()
        outputs = as_dict(response)
        if isinstance(outputs, Mapping):
            self.span.set_outputs(outputs)
            self.record_result(outputs.get("model"), outputs.get("usage"))
        else:
            # A raw HTTP response (``with_raw_response``): its body is the caller's to read.
            self.record_result(None, None)
        self.span.end()

    def record_result(self, model: Any, usage: Any) -> None:
        """Set the model that answered and the token usage, when the response gives them."""
        model = model or self.request_model
        if isinstance(model, str) and model:
            self.span.set_attribute(MODEL_KEY, model)
        counts = token_usage(usage)
        if counts:
            self.span.set_attribute(TOKEN_USAGE_KEY, counts)

    def fail(self, error: BaseException) -> None:
        """Record the call's exception and end the span as ERROR."""
        self.detach()
        self.span.record_exception(error)
        self.span.end()


def start_call(endpoint: Endpoint, name: str, kwargs: dict[str, Any],
               sentinels: tuple[type, ...], log: Callable[..., None]) -> Call | None:
    """Start the span of a call and make it current; None when nothing is recorded.

    ``sentinels`` are the openai classes that stand for "not given" (the library's helpers
    pass every parameter, most of them as such a sentinel).
    """
    rt = _runtime.runtime()
    if not rt.tracing_enabled:
        return None
    span = rt.tracer.start_span(name, endpoint.span_type)
    if type(span) is not LiveSpan:  # sampled out
        return None
    given = {k: v for k, v in kwargs.items() if not isinstance(v, sentinels)
             and not (v is None and k in _NONE_WHEN_NOT_GIVEN)}
    try:
        recorded = {k: _param_value(v) for k, v in given.items()
                    if k not in _TRANSPORT_ARGUMENTS}
        span.set_inputs(recorded)
        attributes = {k: v for k, v in recorded.items()
                      if k not in endpoint.content_arguments}
        if endpoint.kind is not Kind.EMBEDDING:
            attributes[MESSAGE_FORMAT_KEY] = "openai"
        tools = chat_tools(given.get("tools"))
        if tools:
            attributes[TOOLS_KEY] = tools
        span.set_attributes(attributes)
        ctx = otel_trace.set_span_in_context(span)
        call_kwargs = _with_trace_context(kwargs, ctx)
    except Exception:
        span.end()
        raise
    return Call(span, endpoint, call_kwargs, given.get("model"), otel_context.attach(ctx),
                log)


def _param_value(value: Any) -> Any:
    """A request argument as it is recorded: JSON-ready, and a snapshot of it."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, type):  # response_format / text_format of .parse(): a model class
        schema = getattr(value, "model_json_schema", None)
        if callable(schema):
            try:
                return {"type": "json_schema", "name": value.__name__, "schema": schema()}
            except Exception:
                _log.debug("no JSON schema for %r", value, exc_info=True)
        return value.__qualname__
    return _json.to_jsonable(value)


def _with_trace_context(kwargs: dict[str, Any], ctx: otel_context.Context) -> dict[str, Any]:
    """The call's arguments with the span's trace context added to its headers."""
    # Imported here: loading the configured propagators reads package metadata, a cost
    # that only applications using autolog should pay, and once.
    from opentelemetry import propagate

    headers = kwargs.get("extra_headers")
    if headers is not None and not isinstance(headers, Mapping):
        return kwargs
    carrier: dict[str, Any] = dict(headers or {})
    if any(str(key).lower() == "traceparent" for key in carrier):
        return kwargs  # the caller propagates a context of their own
    propagate.inject(carrier, context=ctx)
    if not carrier:
        return kwargs
    return {**kwargs, "extra_headers": carrier}


def as_dict(obj: Any) -> Any:
    """An openai response or chunk as the plain dict of the fields the API sent."""
    if obj is None or isinstance(obj, (dict, list, *_IMMUTABLE)):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and not isinstance(obj, type):
        try:
            return to_dict(mode="json", warnings=False)
        except TypeError:  # an older openai without these parameters
            return to_dict()
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump) and not isinstance(obj, type):
        return model_dump(mode="json")
    return obj


def token_usage(usage: Any) -> dict[str, int] | None:
    """The ``usage`` of a response in Assay's (MLflow's) keys.

    Chat Completions, Completions and Embeddings say ``prompt_tokens`` and
    ``completion_tokens``; the Responses API says ``input_tokens`` and ``output_tokens``.
    Cached prompt tokens become ``cache_read_input_tokens``.
    """
    usage = as_dict(usage)
    if not isinstance(usage, Mapping):
        return None
    counts: dict[str, int] = {}
    for key, names in (("input_tokens", ("prompt_tokens", "input_tokens")),
                       ("output_tokens", ("completion_tokens", "output_tokens")),
                       ("total_tokens", ("total_tokens",))):
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                counts[key] = value
                break
    for details in ("prompt_tokens_details", "input_tokens_details"):
        detail = usage.get(details)
        cached = detail.get("cached_tokens") if isinstance(detail, Mapping) else None
        if isinstance(cached, int) and not isinstance(cached, bool) and cached:
            counts["cache_read_input_tokens"] = cached
            break
    return counts or None


def chat_tools(tools: Any) -> list[Any] | None:
    """The tools offered to the model, in Chat Completions form.

    The Responses API writes a function tool flat (``{"type": "function", "name": ...}``);
    it is rewritten as Chat Completions nests it. Built-in tools (web search, ...) are kept
    as they are.
    """
    if not isinstance(tools, (list, tuple)):
        return None  # an iterator is the call's to consume, not Assay's
    converted: list[Any] = []
    for tool in map(as_dict, tools):
        if (isinstance(tool, Mapping) and tool.get("type") == "function"
                and "function" not in tool and "name" in tool):
            function = {k: tool[k] for k in ("name", "description", "parameters", "strict")
                        if k in tool}
            converted.append({"type": "function", "function": function})
        else:
            converted.append(tool)
    return _json.to_jsonable(converted) if converted else None
