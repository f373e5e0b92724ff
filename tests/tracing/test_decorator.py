"""@assay.trace on every kind of callable, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import assay
from assay import _runtime
from assay.entities import SpanStatusCode, SpanType, TraceState
from assay.errors import InvalidParameterError
from runtimes import last_trace


def test_bare_decorator_records_inputs_outputs_and_name(rt: _runtime.Runtime) -> None:
    @assay.trace
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3
    trace = last_trace()
    [span] = trace.data.spans
    assert span.name == "add"
    assert span.inputs == {"a": 1, "b": 2}
    assert span.outputs == 3
    assert span.span_type == SpanType.UNKNOWN
    assert span.status.status_code is SpanStatusCode.OK
    assert span.parent_id is None
    assert span.attributes["mlflow.spanFunctionName"] == "add"
    assert trace.info.state is TraceState.OK
    assert trace.info.trace_id.startswith("tr-") and len(trace.info.trace_id) == 35
    assert span.trace_id == trace.info.trace_id
    assert trace.info.tags["mlflow.traceName"] == "add"
    assert trace.info.execution_duration is not None and trace.info.execution_duration >= 0


def test_decorator_arguments_and_nesting(rt: _runtime.Runtime) -> None:
    @assay.trace(name="fetch", span_type="RETRIEVER", attributes={"k": 3})
    def retrieve(query: str) -> list[str]:
        return [query.upper()]

    @assay.trace
    def chain(question: str) -> str:
        return retrieve(question)[0]

    assert chain("hi") == "HI"
    trace = last_trace()
    root, child = trace.data.spans
    assert (root.name, child.name) == ("chain", "fetch")
    assert child.parent_id == root.span_id
    assert child.span_type == "RETRIEVER"
    assert child.attributes["k"] == 3
    assert child.inputs == {"query": "hi"}
    assert child.outputs == ["HI"]
    assert root.start_time_ns <= child.start_time_ns
    assert child.end_time_ns is not None and root.end_time_ns is not None
    assert child.end_time_ns <= root.end_time_ns


def test_keyword_and_variadic_arguments_are_bound_by_name(rt: _runtime.Runtime) -> None:
    @assay.trace
    def f(a: int, *args: int, key: str = "k", **kwargs: Any) -> None:
        return None

    f(1, 2, 3, key="x", extra=True)
    [span] = last_trace().data.spans
    assert span.inputs == {"a": 1, "args": [2, 3], "key": "x", "kwargs": {"extra": True}}
    assert span.outputs is None


def test_wrapped_function_keeps_metadata(rt: _runtime.Runtime) -> None:
    def documented(x: int) -> int:
        """Doc."""
        return x

    traced = assay.trace(documented)
    assert traced.__name__ == "documented"
    assert traced.__doc__ == "Doc."
    assert traced.__wrapped__ is documented  # type: ignore[attr-defined]
    assert traced(4) == 4


def test_wrapping_a_builtin_directly(rt: _runtime.Runtime) -> None:
    assert assay.trace(math.factorial)(5) == 120
    [span] = last_trace().data.spans
    assert span.name == "factorial"
    assert span.outputs == 120


def test_methods_classmethods_and_staticmethods(rt: _runtime.Runtime) -> None:
    class Bot:
        greeting = "hello"

        @assay.trace
        def answer(self, q: str) -> str:
            return f"{self.greeting} {q}"

        @assay.trace
        @classmethod
        def make(cls, name: str) -> str:
            return f"{cls.__name__}:{name}"

        @assay.trace
        @staticmethod
        def shout(text: str) -> str:
            return text.upper()

    assert Bot().answer("there") == "hello there"
    [span] = last_trace().data.spans
    assert span.inputs == {"q": "there"}

    assert Bot.make("x") == "Bot:x"
    [span] = last_trace().data.spans
    assert span.inputs == {"name": "x"}
    assert span.name == "make"

    assert Bot.shout("hey") == "HEY"
    [span] = last_trace().data.spans
    assert span.inputs == {"text": "hey"}


def test_async_function(rt: _runtime.Runtime) -> None:
    @assay.trace(span_type=SpanType.LLM)
    async def generate(prompt: str) -> str:
        await asyncio.sleep(0)
        return prompt[::-1]

    assert asyncio.run(generate("abc")) == "cba"
    [span] = last_trace().data.spans
    assert (span.inputs, span.outputs, span.span_type) == ({"prompt": "abc"}, "cba", "LLM")


def test_generator_records_chunks_and_nests_children(rt: _runtime.Runtime) -> None:
    @assay.trace
    def token(i: int) -> str:
        return f"t{i}"

    @assay.trace
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            yield token(i)

    assert list(stream(3)) == ["t0", "t1", "t2"]
    trace = last_trace()
    root = trace.data.spans[0]
    assert root.name == "stream"
    assert root.outputs == ["t0", "t1", "t2"]
    assert [e.name for e in root.events] == [f"mlflow.chunk.item.{i}" for i in range(3)]
    assert root.events[1].attributes["mlflow.chunk.value"] == '"t1"'
    children = [s for s in trace.data.spans if s.name == "token"]
    assert len(children) == 3
    assert all(c.parent_id == root.span_id for c in children)


def test_generator_output_reducer_and_return_value(rt: _runtime.Runtime) -> None:
    @assay.trace(output_reducer=lambda chunks: "".join(chunks))
    def stream() -> Iterator[str]:
        yield "a"
        yield "b"
        return None

    assert list(stream()) == ["a", "b"]
    [span] = last_trace().data.spans
    assert span.outputs == "ab"


def test_generator_send_and_early_close(rt: _runtime.Runtime) -> None:
    @assay.trace
    def echo() -> Any:
        received = yield "ready"
        while True:
            received = yield f"got {received}"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send(1) == "got 1"
    gen.close()
    [span] = last_trace().data.spans
    assert span.outputs == ["ready", "got 1"]
    assert span.status.status_code is SpanStatusCode.OK


def test_generator_error_ends_span_with_error(rt: _runtime.Runtime) -> None:
    @assay.trace
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("boom")

    with pytest.raises(KeyError):
        list(broken())
    [span] = last_trace().data.spans
    assert span.status.status_code is SpanStatusCode.ERROR
    assert [e.name for e in span.events][-1] == "exception"


def test_async_generator(rt: _runtime.Runtime) -> None:
    @assay.trace(output_reducer=lambda c: sum(c))
    async def numbers(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def consume() -> list[int]:
        return [i async for i in numbers(4)]

    assert asyncio.run(consume()) == [0, 1, 2, 3]
    [span] = last_trace().data.spans
    assert span.inputs == {"n": 4}
    assert span.outputs == 6
    assert len(span.events) == 4


def test_output_reducer_on_a_plain_function_is_refused(rt: _runtime.Runtime) -> None:
    with pytest.raises(InvalidParameterError, match="output_reducer"):
        @assay.trace(output_reducer=lambda c: c)
        def f() -> int:
            return 1


def test_exception_is_recorded_and_reraised_untouched(rt: _runtime.Runtime) -> None:
    class AppError(Exception):
        pass

    error = AppError("bad input")

    @assay.trace
    def fails() -> None:
        raise error

    with pytest.raises(AppError) as caught:
        fails()
    assert caught.value is error
    trace = last_trace()
    [span] = trace.data.spans
    assert trace.info.state is TraceState.ERROR
    assert span.status.status_code is SpanStatusCode.ERROR
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "bad input"
    assert event.attributes["exception.type"].endswith("AppError")
    assert "raise error" in event.attributes["exception.stacktrace"]


def test_explicit_outputs_win_over_return_value(rt: _runtime.Runtime) -> None:
    @assay.trace
    def f() -> str:
        span = assay.get_current_active_span()
        assert span is not None
        span.set_outputs({"explicit": True})
        return "returned"

    assert f() == "returned"
    [span] = last_trace().data.spans
    assert span.outputs == {"explicit": True}


def test_unknown_span_type_is_kept_as_is(rt: _runtime.Runtime) -> None:
    @assay.trace(span_type="MY_CUSTOM_TYPE")
    def f() -> None:
        pass

    f()
    assert last_trace().data.spans[0].span_type == "MY_CUSTOM_TYPE"


def test_mutating_inputs_after_the_call_does_not_change_the_trace(
        rt: _runtime.Runtime) -> None:
    @assay.trace
    def f(items: list[int]) -> list[int]:
        return items

    data = [1, 2]
    f(data)
    data.append(3)
    [span] = last_trace().data.spans
    assert span.inputs == {"items": [1, 2]}
    assert span.outputs == [1, 2]
