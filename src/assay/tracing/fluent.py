"""The tracing API: ``@trace``, ``start_span``, and the accessors of the current span and trace.

Tracing never breaks the traced code: if Assay itself fails, the function runs untraced and
the failure is logged; the function's own exceptions are recorded and re-raised untouched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from assay import _runtime
from assay.entities.span import CHUNK_EVENT_PREFIX, CHUNK_VALUE_KEY, SpanEvent, SpanType
from assay.errors import InvalidParameterError
from assay.tracing.live_span import LiveSpan, NoOpSpan

__all__ = [
    "get_active_trace_id",
    "get_current_active_span",
    "get_last_active_trace_id",
    "start_span",
    "trace",
]

_log = logging.getLogger("assay")

F = TypeVar("F", bound=Callable[..., Any])

_POSITIONAL_OR_KEYWORD = inspect.Parameter.POSITIONAL_OR_KEYWORD
_EMPTY = inspect.Parameter.empty


class _Binder:
    """Turns a call's arguments into the ``{parameter: value}`` inputs of its span, fast.

    Plain signatures (positional-or-keyword parameters only) take a short path that costs a
    fraction of ``Signature.bind``; everything else goes through ``bind``.
    """

    __slots__ = ("defaults", "drop_first", "names", "signature", "simple")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        self.names = tuple(p.name for p in params)
        self.defaults = {p.name: p.default for p in params if p.default is not _EMPTY}
        self.simple = self.signature is not None and all(
            p.kind is _POSITIONAL_OR_KEYWORD for p in params)
        # "self" is never an input; "cls" is dropped when it is a class (checked per call).
        self.drop_first = self.names[0] if self.names and self.names[0] in ("self", "cls") \
            else None

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        if self.signature is None:
            return {"args": list(args), **kwargs} if kwargs else {"args": list(args)}
        names = self.names
        if self.simple and len(args) <= len(names) and (
                not kwargs or all(k in self.defaults or k in names for k in kwargs)):
            if not kwargs and len(args) == len(names):
                arguments = dict(zip(names, args, strict=True))
            else:
                arguments = {}
                n = len(args)
                for i, name in enumerate(names):
                    if i < n:
                        arguments[name] = args[i]
                    elif name in kwargs:
                        arguments[name] = kwargs[name]
                    elif name in self.defaults:
                        arguments[name] = self.defaults[name]
        else:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                _log.warning("Assay could not bind the arguments of a traced call: %s", exc)
                return None
            bound.apply_defaults()
            arguments = dict(bound.arguments)
        first = self.drop_first
        if first is not None and first in arguments and (
                first == "self" or isinstance(arguments[first], type)):
            del arguments[first]
        return arguments


def _enter(name: str, span_type: str, attributes: Mapping[str, Any] | None,
           sampling_ratio: float | None, binder: _Binder, fn_name: str,
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, object] | None:
    """Start a span for a call and make it current; None if tracing is off or failed."""
    rt = _runtime.runtime()
    if not rt.tracing_enabled:
        return None
    try:
        span = rt.tracer.start_span(name, span_type, None, attributes,
                                    sampling_ratio=sampling_ratio)
        if type(span) is LiveSpan:
            span._function_name = fn_name
            inputs = binder.bind(args, kwargs)
            if inputs is not None:
                span._set_call_inputs(inputs)
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        return span, token
    except Exception:
        _log.debug("Assay could not start a span for %s", fn_name, exc_info=True)
        return None


def _exit(span: Any, token: object, result: Any = None,
          error: BaseException | None = None, set_result: bool = True) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
        if type(span) is not LiveSpan:
            return
        if error is not None:
            span.record_exception(error)
        elif set_result and not span._outputs_set:
            span.set_outputs(result)
        span.end()
    except Exception:
        _log.debug("Assay could not end a span", exc_info=True)


def _validate(output_reducer: Callable[..., Any] | None, is_generator: bool,
              sampling_ratio: float | None) -> None:
    if output_reducer is not None and not is_generator:
        raise InvalidParameterError(
            "output_reducer is only for generator functions: the outputs of a generator are "
            "the list of its chunks, which the reducer turns into one value")
    if sampling_ratio is not None and not (
            isinstance(sampling_ratio, (int, float)) and 0.0 <= sampling_ratio <= 1.0):
        raise InvalidParameterError(
            f"sampling_ratio_override must be a number from 0 to 1, got {sampling_ratio!r}")


@overload
def trace(func: F) -> F: ...


@overload
def trace(func: None = None, name: str | None = None, span_type: str = SpanType.UNKNOWN,
          attributes: Mapping[str, Any] | None = None,
          output_reducer: Callable[[list[Any]], Any] | None = None,
          sampling_ratio_override: float | None = None,
          **_ignored: Any) -> Callable[[F], F]: ...


def trace(func: Any = None, name: str | None = None, span_type: str = SpanType.UNKNOWN,
          attributes: Mapping[str, Any] | None = None,
          output_reducer: Callable[[list[Any]], Any] | None = None,
          sampling_ratio_override: float | None = None, **_ignored: Any) -> Any:
    """Record every call of a function as a span.

    Use it bare (``@assay.trace``) or with arguments
    (``@assay.trace(name="retrieve", span_type="RETRIEVER")``). Works on sync and async
    functions, generators and async generators (each chunk is recorded; the outputs are the
    list of chunks, or ``output_reducer(chunks)``), methods, classmethods and staticmethods.
    The inputs are the call's arguments by parameter name (``self`` dropped); the outputs are
    the return value unless the body set them with ``get_current_active_span().set_outputs``.
    An exception sets the span's status to ERROR, is recorded, and is re-raised untouched.

    Args:
        func: the function, when used bare or called directly (``assay.trace(fn)``).
        name: the span's name (default: the function's name).
        span_type: one of :class:`~assay.entities.SpanType`, or any string.
        attributes: attributes set on every span of this function.
        output_reducer: for generators, turns the list of chunks into the outputs.
        sampling_ratio_override: the share of this function's root traces kept, 0 to 1.
    """
    def decorator(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorator(fn.__func__))
        is_gen = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        _validate(output_reducer, is_gen, sampling_ratio_override)
        fn_name = str(getattr(fn, "__name__", None) or "span")
        span_name = name or fn_name
        binder = _Binder(fn)
        attrs = dict(attributes) if attributes else None
        ratio = sampling_ratio_override
        if inspect.isasyncgenfunction(fn):
            wrapper = _wrap_async_generator(fn, span_name, span_type, attrs, ratio, binder,
                                            fn_name, output_reducer)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _wrap_generator(fn, span_name, span_type, attrs, ratio, binder, fn_name,
                                      output_reducer)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _wrap_coroutine(fn, span_name, span_type, attrs, ratio, binder, fn_name)
        else:
            wrapper = _wrap_function(fn, span_name, span_type, attrs, ratio, binder, fn_name)
        with contextlib.suppress(AttributeError):  # builtins lack some attributes
            functools.update_wrapper(wrapper, fn)
        wrapper.__assay_traced__ = True  # type: ignore[attr-defined]
        return wrapper

    if func is not None:
        return decorator(func)
    return decorator


def _wrap_function(fn: Callable[..., Any], name: str, span_type: str,
                   attrs: dict[str, Any] | None, ratio: float | None, binder: _Binder,
                   fn_name: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        entered = _enter(name, span_type, attrs, ratio, binder, fn_name, args, kwargs)
        if entered is None:
            return fn(*args, **kwargs)
        span, token = entered
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _exit(span, token, error=exc)
            raise
        _exit(span, token, result)
        return result

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], name: str, span_type: str,
                    attrs: dict[str, Any] | None, ratio: float | None, binder: _Binder,
                    fn_name: str) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        entered = _enter(name, span_type, attrs, ratio, binder, fn_name, args, kwargs)
        if entered is None:
            return await fn(*args, **kwargs)
        span, token = entered
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _exit(span, token, error=exc)
            raise
        _exit(span, token, result)
        return result

    return wrapper


def _record_chunk(span: Any, index: int, chunk: Any) -> None:
    if type(span) is LiveSpan:
        from assay import _json

        span.add_event(SpanEvent(f"{CHUNK_EVENT_PREFIX}{index}", _now_ns(),
                                 {CHUNK_VALUE_KEY: _json.dumps(chunk)}))


def _now_ns() -> int:
    import time

    return time.time_ns()


def _finish_stream(span: Any, chunks: list[Any],
                   output_reducer: Callable[[list[Any]], Any] | None) -> None:
    if type(span) is not LiveSpan:
        return
    try:
        if not span._outputs_set:
            span.set_outputs(output_reducer(chunks) if output_reducer else chunks)
    except Exception as exc:  # a failing reducer is recorded, not raised into the app
        _log.warning("Assay's output_reducer failed: %s", exc)
        span.set_outputs(chunks)
    span.end()


def _wrap_generator(fn: Callable[..., Any], name: str, span_type: str,
                    attrs: dict[str, Any] | None, ratio: float | None, binder: _Binder,
                    fn_name: str,
                    output_reducer: Callable[[list[Any]], Any] | None) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        entered = _enter(name, span_type, attrs, ratio, binder, fn_name, args, kwargs)
        if entered is None:
            return (yield from fn(*args, **kwargs))
        span, token = entered
        # The span is current only while the generator's own code runs.
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            _exit(span, token, error=exc)
            raise
        otel_context.detach(token)  # type: ignore[arg-type]
        ctx = otel_trace.set_span_in_context(span)
        chunks: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = otel_context.attach(ctx)
            try:
                item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
            except StopIteration as stop:
                otel_context.detach(token)
                _finish_stream(span, chunks, output_reducer)
                return stop.value
            except BaseException as exc:
                otel_context.detach(token)
                if type(span) is LiveSpan:
                    span.record_exception(exc)
                    span.end()
                raise
            otel_context.detach(token)
            _record_chunk(span, len(chunks), item)
            chunks.append(item)
            to_throw = None
            try:
                to_send = yield item
            except GeneratorExit:
                gen.close()
                _finish_stream(span, chunks, output_reducer)
                raise
            except BaseException as exc:
                to_throw = exc

    return wrapper


def _wrap_async_generator(fn: Callable[..., Any], name: str, span_type: str,
                          attrs: dict[str, Any] | None, ratio: float | None,
                          binder: _Binder, fn_name: str,
                          output_reducer: Callable[[list[Any]], Any] | None
                          ) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        entered = _enter(name, span_type, attrs, ratio, binder, fn_name, args, kwargs)
        if entered is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        span, token = entered
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            _exit(span, token, error=exc)
            raise
        otel_context.detach(token)  # type: ignore[arg-type]
        ctx = otel_trace.set_span_in_context(span)
        chunks: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = otel_context.attach(ctx)
            try:
                if to_throw is not None:
                    item = await agen.athrow(to_throw)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                otel_context.detach(token)
                _finish_stream(span, chunks, output_reducer)
                return
            except BaseException as exc:
                otel_context.detach(token)
                if type(span) is LiveSpan:
                    span.record_exception(exc)
                    span.end()
                raise
            otel_context.detach(token)
            _record_chunk(span, len(chunks), item)
            chunks.append(item)
            to_throw = None
            try:
                to_send = yield item
            except GeneratorExit:
                await agen.aclose()
                _finish_stream(span, chunks, output_reducer)
                raise
            except BaseException as exc:
                to_throw = exc

    return wrapper


@contextlib.contextmanager
def start_span(name: str = "span", span_type: str = SpanType.UNKNOWN,
               attributes: Mapping[str, Any] | None = None,
               **_ignored: Any) -> Iterator[LiveSpan | NoOpSpan]:
    """Open a span for a block of code; the block gets the :class:`LiveSpan`.

    A span opened with no current span starts a new trace, which is written when this span
    ends. The status becomes OK at the end unless it was set; an exception in the block sets
    ERROR, is recorded, and propagates.
    """
    rt = _runtime.runtime()
    span: LiveSpan | NoOpSpan
    token: object | None = None
    if not rt.tracing_enabled:
        span = NoOpSpan()
    else:
        try:
            span = rt.tracer.start_span(name, span_type, None, attributes)
            token = otel_context.attach(otel_trace.set_span_in_context(span))
        except Exception:
            _log.debug("Assay could not start span %r", name, exc_info=True)
            span, token = NoOpSpan(), None
    try:
        yield span
    except BaseException as exc:
        if token is not None:
            _exit(span, token, error=exc)
        raise
    if token is not None:
        _exit(span, token, set_result=False)


def start_span_no_context(name: str, span_type: str = SpanType.UNKNOWN,
                          parent_span: LiveSpan | NoOpSpan | None = None,
                          inputs: Any = None,
                          attributes: Mapping[str, Any] | None = None,
                          start_time_ns: int | None = None,
                          experiment_id: str | None = None) -> LiveSpan | NoOpSpan:
    """Start a span that is not made current; the caller must call ``end()`` on it."""
    rt = _runtime.runtime()
    if not rt.tracing_enabled:
        return NoOpSpan()
    try:
        span = rt.tracer.start_span(name, span_type,
                                    parent_span or otel_trace.INVALID_SPAN, attributes,
                                    start_ns=start_time_ns, experiment_id=experiment_id)
    except Exception:
        _log.debug("Assay could not start span %r", name, exc_info=True)
        return NoOpSpan()
    if inputs is not None:
        span.set_inputs(inputs)
    return span


def get_current_active_span() -> LiveSpan | NoOpSpan | None:
    """The span of the innermost ``@trace`` or ``start_span`` running now, if any."""
    span = otel_trace.get_current_span()
    if type(span) is LiveSpan:
        return span if span.is_recording() else None
    if type(span) is NoOpSpan:
        return span
    return None


def get_active_trace_id() -> str | None:
    """The id of the trace being recorded in this context, if any."""
    span = otel_trace.get_current_span()
    if type(span) is LiveSpan and not span._trace.finished:
        return span.trace_id
    return None


def get_last_active_trace_id(thread_local: bool = False) -> str | None:
    """The id of the trace whose root span ended last (in this process, or this context)."""
    if thread_local:
        return _runtime.runtime().last_trace_id_in_context.get()
    return _runtime.runtime().tracer.last_trace_id
