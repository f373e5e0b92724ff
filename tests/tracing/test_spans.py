"""start_span, LiveSpan, the context accessors, and spans across threads and tasks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import assay
from assay import _runtime
from assay.entities import SpanEvent, SpanStatus, SpanStatusCode
from assay.tracing import ContextThreadPoolExecutor, wrap_context
from assay.tracing.live_span import LiveSpan
from runtimes import read_trace


def test_start_span_records_a_trace_when_the_root_ends(rt: _runtime.Runtime) -> None:
    with assay.start_span("outer", span_type="CHAIN") as outer:
        assert isinstance(outer, LiveSpan)
        outer.set_inputs({"q": "hello"})
        assert assay.get_current_active_span() is outer
        assert assay.get_active_trace_id() == outer.trace_id
        with assay.start_span("inner") as inner:
            inner.set_attributes({"model": "m", "temperature": 0.5})
            inner.set_attribute("n", 3)
            inner.add_event(SpanEvent("retrieved", 123, {"count": 2}))
            inner.set_outputs(["a", "b"])
            assert inner.parent_id == outer.span_id
            assert inner.trace_id == outer.trace_id
        outer.set_outputs("done")
    assert assay.get_current_active_span() is None
    assert assay.get_active_trace_id() is None
    trace = read_trace(assay.get_last_active_trace_id())
    assert trace.info.trace_id == outer.trace_id
    root, child = trace.data.spans
    assert root.span_id == outer.span_id and len(root.span_id) == 16
    assert (root.inputs, root.outputs, root.span_type) == ({"q": "hello"}, "done", "CHAIN")
    assert child.attributes == {"model": "m", "temperature": 0.5, "n": 3}
    assert child.outputs == ["a", "b"]
    assert child.events[0] == SpanEvent("retrieved", 123, {"count": 2})
    assert root.status == SpanStatus(SpanStatusCode.OK)


def test_start_span_exception_sets_error_and_propagates(rt: _runtime.Runtime) -> None:
    with pytest.raises(RuntimeError, match="nope"), assay.start_span("s"):
        raise RuntimeError("nope")
    [span] = read_trace(assay.get_last_active_trace_id()).data.spans
    assert span.status.status_code is SpanStatusCode.ERROR
    assert span.status.description == "RuntimeError: nope"
    assert span.events[0].name == "exception"


def test_explicit_status_and_end(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span:
        span.set_status("ERROR")
        span.end(outputs={"x": 1}, attributes={"a": "b"})
        span.end(outputs="ignored")  # a second end does nothing
    [stored] = read_trace(span.trace_id).data.spans
    assert stored.status.status_code is SpanStatusCode.ERROR
    assert stored.outputs == {"x": 1}
    assert stored.attributes == {"a": "b"}


def test_invalid_status_names_the_allowed_values(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span, pytest.raises(ValueError, match="OK, ERROR"):
        span.set_status("MAYBE")


def test_record_exception_on_a_live_span(rt: _runtime.Runtime) -> None:
    with assay.start_span("s") as span:
        span.record_exception(ValueError("bad"))
    [stored] = read_trace(span.trace_id).data.spans
    assert stored.status.status_code is SpanStatusCode.ERROR
    assert stored.events[0].attributes["exception.type"] == "ValueError"


def test_span_no_context_with_explicit_times(rt: _runtime.Runtime) -> None:
    root = assay.start_span_no_context("root", inputs={"a": 1}, start_time_ns=1_000_000_000)
    child = assay.start_span_no_context("child", parent_span=root,
                                        start_time_ns=1_100_000_000)
    assert assay.get_current_active_span() is None
    child.end(end_time_ns=1_200_000_000)
    root.end(outputs="ok", end_time_ns=1_500_000_000)
    trace = read_trace(root.trace_id)
    assert trace.info.request_time == 1000
    assert trace.info.execution_duration == 500
    assert [s.name for s in trace.data.spans] == ["root", "child"]


def test_last_active_trace_id_thread_local(rt: _runtime.Runtime) -> None:
    @assay.trace
    def f(x: int) -> int:
        return x

    results: dict[str, str | None] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        barrier.wait()
        f(1)
        results[name] = assay.get_last_active_trace_id(thread_local=True)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"] != results["b"]
    assert {results["a"], results["b"]} >= {assay.get_last_active_trace_id()}
    assert assay.get_last_active_trace_id(thread_local=True) is None


def test_eight_threads_keep_their_traces_apart(rt: _runtime.Runtime) -> None:
    @assay.trace
    def leaf(worker: int, i: int) -> str:
        return f"{worker}-{i}"

    @assay.trace
    def root(worker: int, i: int) -> str:
        return leaf(worker, i)

    ids: dict[int, list[str]] = {w: [] for w in range(8)}

    def work(w: int) -> None:
        for i in range(25):
            root(w, i)
            trace_id = assay.get_last_active_trace_id(thread_local=True)
            assert trace_id is not None
            ids[w].append(trace_id)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [t for w in ids.values() for t in w]
    assert len(set(all_ids)) == 200
    for w, trace_ids in ids.items():
        for i, trace_id in enumerate(trace_ids):
            trace = read_trace(trace_id)
            root_span, leaf_span = trace.data.spans
            assert root_span.inputs == {"worker": w, "i": i}
            assert leaf_span.parent_id == root_span.span_id
            assert leaf_span.outputs == f"{w}-{i}"


def test_fifty_asyncio_tasks_keep_their_traces_apart(rt: _runtime.Runtime) -> None:
    @assay.trace
    async def step(task: int, n: int) -> int:
        await asyncio.sleep(0.001 * (n % 3))
        return task * 100 + n

    @assay.trace
    async def handle(task: int) -> list[int]:
        out = []
        for n in range(3):
            out.append(await step(task, n))
        trace_id = assay.get_active_trace_id()
        assert trace_id is not None
        seen[task] = trace_id
        return out

    seen: dict[int, str] = {}

    async def main() -> None:
        await asyncio.gather(*(handle(t) for t in range(50)))

    asyncio.run(main())
    assert len(set(seen.values())) == 50
    for task, trace_id in seen.items():
        trace = read_trace(trace_id)
        assert trace.data.spans[0].inputs == {"task": task}
        steps = [s for s in trace.data.spans if s.name == "step"]
        assert sorted(s.outputs for s in steps) == [task * 100 + n for n in range(3)]
        assert all(s.parent_id == trace.data.spans[0].span_id for s in steps)


def test_context_carried_into_a_thread_pool(rt: _runtime.Runtime) -> None:
    @assay.trace
    def work(i: int) -> int:
        return i * 2

    with assay.start_span("fan-out") as parent:
        with ContextThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(work, range(6)))
        t = threading.Thread(target=wrap_context(work), args=(10,))
        t.start()
        t.join()
    assert results == [0, 2, 4, 6, 8, 10]
    trace = read_trace(parent.trace_id)
    children = [s for s in trace.data.spans if s.name == "work"]
    assert len(children) == 7
    assert all(c.parent_id == parent.span_id for c in children)


def test_without_propagation_a_thread_starts_its_own_trace(rt: _runtime.Runtime) -> None:
    @assay.trace
    def work() -> None:
        pass

    with assay.start_span("parent") as parent:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    assert assay.get_last_active_trace_id() == parent.trace_id
    assert len(read_trace(parent.trace_id).data.spans) == 1


def test_nests_under_a_foreign_opentelemetry_span(rt: _runtime.Runtime) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()  # the app's own OpenTelemetry, not Assay's
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("http-request") as foreign, \
            assay.start_span("assay-span") as span:
        pass
    ctx = foreign.get_span_context()
    assert span.trace_id == f"tr-{ctx.trace_id:032x}"
    assert span.parent_id == f"{ctx.span_id:016x}"
    [stored] = read_trace(span.trace_id).data.spans
    assert stored.parent_id == f"{ctx.span_id:016x}"


def test_assay_never_sets_the_global_tracer_provider(rt: _runtime.Runtime) -> None:
    from opentelemetry import trace as otel_trace

    before = otel_trace.get_tracer_provider()

    @assay.trace
    def f() -> None:
        pass

    f()
    assert otel_trace.get_tracer_provider() is before


def test_live_span_attribute_values_of_any_type(rt: _runtime.Runtime) -> None:
    values: dict[str, Any] = {"list": [1, "a"], "dict": {"k": [1.5]}, "none": None,
                              "bool": True}
    with assay.start_span("s") as span:
        span.set_attributes(values)
    [stored] = read_trace(span.trace_id).data.spans
    assert dict(stored.attributes) == values
