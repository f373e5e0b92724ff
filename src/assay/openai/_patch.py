"""Which openai methods autolog wraps, and how a wrapper is put in place and taken out.

A wrapper keeps the method it replaced (``__assay_original__``), so taking it out puts back
that very object, and patching twice never wraps a wrapper. A wrapper that is no longer in
place (a bound method kept from before ``autolog(disable=True)``) calls straight through.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assay.openai._call import (
    CHAT,
    COMPLETION,
    EMBEDDING,
    RESPONSE,
    Call,
    Endpoint,
    start_call,
)
from assay.openai._stream import record_stream

__all__ = ["TARGETS", "Target", "patch", "unpatch"]

_ORIGINAL = "__assay_original__"
_INHERITED = object()  # stands for "the class had no method of its own"


@dataclass(frozen=True, slots=True)
class Target:
    """A method of an openai resource class that is recorded."""

    module: str
    class_name: str
    method: str
    endpoint: Endpoint
    is_async: bool


def _both(module: str, class_name: str, method: str, endpoint: Endpoint) -> tuple[Target, ...]:
    return (Target(module, class_name, method, endpoint, False),
            Target(module, f"Async{class_name}", method, endpoint, True))


TARGETS: tuple[Target, ...] = (
    *_both("openai.resources.chat", "Completions", "create", CHAT),
    *_both("openai.resources.chat", "Completions", "parse", CHAT),
    *_both("openai.resources", "Completions", "create", COMPLETION),
    *_both("openai.resources", "Embeddings", "create", EMBEDDING),
    *_both("openai.resources.responses", "Responses", "create", RESPONSE),
    *_both("openai.resources.responses", "Responses", "parse", RESPONSE),
)


def _owner(target: Target) -> type | None:
    try:
        module = importlib.import_module(target.module)
    except ImportError:
        return None
    owner = getattr(module, target.class_name, None)
    if not isinstance(owner, type) or not callable(getattr(owner, target.method, None)):
        return None
    return owner


def patch(targets: tuple[Target, ...], log: Callable[..., None]) -> int:
    """Put a recording wrapper on each target this openai version has; how many were."""
    import openai

    sentinels = tuple(t for t in (getattr(openai, "NotGiven", None),
                                  getattr(openai, "Omit", None)) if isinstance(t, type))
    stream_types = tuple(t for t in (getattr(openai, "Stream", None),
                                     getattr(openai, "AsyncStream", None))
                         if isinstance(t, type))
    done = 0
    for target in targets:
        owner = _owner(target)
        if owner is None:
            continue
        if getattr(owner.__dict__.get(target.method), _ORIGINAL, None) is not None:
            continue  # already wrapped
        original = owner.__dict__.get(target.method, _INHERITED)
        function = getattr(owner, target.method)
        wrapper = _wrapper(owner, target, function, sentinels, stream_types, log)
        setattr(wrapper, _ORIGINAL, original)
        setattr(owner, target.method, wrapper)
        done += 1
    return done


def unpatch(targets: tuple[Target, ...]) -> None:
    """Put back every original method that a wrapper replaced."""
    for target in targets:
        owner = _owner(target)
        if owner is None:
            continue
        original = getattr(owner.__dict__.get(target.method), _ORIGINAL, None)
        if original is None:
            continue
        if original is _INHERITED:
            delattr(owner, target.method)
        else:
            setattr(owner, target.method, original)


def _wrapper(owner: type, target: Target, function: Callable[..., Any],
             sentinels: tuple[type, ...], stream_types: tuple[type, ...],
             log: Callable[..., None]) -> Callable[..., Any]:
    name = target.method
    endpoint = target.endpoint

    def begin(resource: Any, kwargs: dict[str, Any]) -> Call | None:
        if owner.__dict__.get(name) is not wrapper:
            return None  # taken out since this bound method was made
        try:
            return start_call(endpoint, type(resource).__name__, kwargs, sentinels, log)
        except Exception:
            log("Assay could not start the span of an OpenAI call", exc_info=True)
            return None

    def end(call: Call, result: Any) -> Any:
        try:
            if stream_types and isinstance(result, stream_types):
                return record_stream(result, call, target.is_async)
            call.finish(result)
        except Exception:
            log("Assay could not record the result of an OpenAI call", exc_info=True)
            call.span.end()
        return result

    def fail(call: Call, error: BaseException) -> None:
        try:
            call.fail(error)
        except Exception:
            log("Assay could not record the error of an OpenAI call", exc_info=True)
            call.span.end()

    if target.is_async:
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = begin(self, kwargs)
            if call is None:
                return await function(self, *args, **kwargs)
            try:
                result = await function(self, *args, **call.kwargs)
            except BaseException as exc:
                fail(call, exc)
                raise
            return end(call, result)

        wrapper: Callable[..., Any] = async_wrapper
    else:
        def sync_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = begin(self, kwargs)
            if call is None:
                return function(self, *args, **kwargs)
            try:
                result = function(self, *args, **call.kwargs)
            except BaseException as exc:
                fail(call, exc)
                raise
            return end(call, result)

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, function)
    return wrapper
