"""assay.openai.autolog(): the real openai client, an OpenAI-compatible server on 127.0.0.1,
and the traces read back from SQLite and PostgreSQL.

(This folder has no ``__init__.py`` on purpose: a package named ``openai`` here would hide
the real one.)
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest
from compatible_server import CompatibleServer
from openai.resources.chat import AsyncCompletions, Completions

import assay
from assay import _runtime
from assay.entities import Span, SpanStatusCode, SpanType, TraceState
from local_http import LOCAL_TLS
from runtimes import last_trace

API_KEY = "sk-test-secret-key"
HELLO: Any = [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": "Hello there"}]
WEATHER_TOOL: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[CompatibleServer]:
    live = CompatibleServer()
    live.start()
    yield live
    live.stop()


@pytest.fixture
def api(server: CompatibleServer) -> Iterator[CompatibleServer]:
    """The server, with the requests of earlier tests forgotten."""
    server.requests.clear()
    yield server


@pytest.fixture
def autolog(rt: _runtime.Runtime) -> Iterator[None]:
    assay.openai.autolog()
    yield
    assay.openai.autolog(disable=True)


@pytest.fixture
def client(api: CompatibleServer, autolog: None) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=API_KEY, base_url=api.base_url, max_retries=0,
                       http_client=openai.DefaultHttpxClient(verify=LOCAL_TLS)) as c:
        yield c


def async_client(api: CompatibleServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=API_KEY, base_url=api.base_url, max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient(verify=LOCAL_TLS))


def chunk_values(span: Span) -> list[Any]:
    events = [e for e in span.events if e.name.startswith("mlflow.chunk.item.")]
    assert [e.name for e in events] == [f"mlflow.chunk.item.{i}" for i in range(len(events))]
    return [json.loads(e.attributes["mlflow.chunk.value"]) for e in events]


def exception_event(span: Span) -> dict[str, Any]:
    [event] = [e for e in span.events if e.name == "exception"]
    return dict(event.attributes)


# -- plain calls ---------------------------------------------------------------------------
def test_chat_completion_is_a_chat_model_span_with_inputs_outputs_and_usage(
        client: openai.OpenAI, api: CompatibleServer) -> None:
    response = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                              temperature=0.2)
    assert response.choices[0].message.content == "You said: Hello there"
    trace = last_trace()
    [span] = trace.data.spans
    assert span.name == "Completions"
    assert span.span_type == SpanType.CHAT_MODEL
    assert span.parent_id is None
    assert span.status.status_code is SpanStatusCode.OK
    assert span.inputs == {"model": "gpt-4o-mini", "messages": HELLO, "temperature": 0.2}
    assert span.outputs == response.to_dict(mode="json")
    assert span.outputs["choices"][0]["message"]["content"] == "You said: Hello there"
    attributes = span.attributes
    assert attributes["temperature"] == 0.2
    assert attributes["model"] == "gpt-4o-mini"
    assert "messages" not in attributes
    assert attributes["mlflow.message.format"] == "openai"
    assert attributes["mlflow.llm.model"] == "gpt-4o-mini"
    # 2 + 2 words asked, 4 answered
    assert attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 4, "output_tokens": 4, "total_tokens": 8}
    assert trace.info.token_usage == {"input_tokens": 4, "output_tokens": 4, "total_tokens": 8}
    assert trace.info.request_preview == "Hello there"
    assert trace.info.response_preview == "You said: Hello there"
    assert trace.info.state is TraceState.OK


def test_the_request_carries_the_span_trace_context_and_no_secret_is_recorded(
        client: openai.OpenAI, api: CompatibleServer) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                   extra_headers={"x-api-key": "header-secret"},
                                   extra_query={"key": "query-secret"})
    trace = last_trace()
    [span] = trace.data.spans
    [request] = api.requests
    assert request.headers["traceparent"] == (
        f"00-{trace.info.trace_id.removeprefix('tr-')}-{span.span_id}-01")
    assert request.headers["x-api-key"] == "header-secret"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    recorded = trace.to_json()
    for secret in (API_KEY, "header-secret", "query-secret"):
        assert secret not in recorded
    assert set(span.inputs) == {"model", "messages"}


def test_a_traceparent_the_caller_sends_is_kept(client: openai.OpenAI,
                                                api: CompatibleServer) -> None:
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                   extra_headers={"traceparent": theirs})
    assert api.requests[0].headers["traceparent"] == theirs


def test_calls_nest_under_the_current_span_and_usage_is_summed_once(
        client: openai.OpenAI) -> None:
    @assay.trace
    def answer(question: str) -> str:
        first = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
        second = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "and again"}])
        return f"{first.choices[0].message.content} / {second.choices[0].message.content}"

    assert answer("one two three") == "You said: one two three / You said: and again"
    trace = last_trace()
    root, first, second = trace.data.spans
    assert root.name == "answer"
    assert (first.parent_id, second.parent_id) == (root.span_id, root.span_id)
    assert (first.attributes["mlflow.llm.model"],
            second.attributes["mlflow.llm.model"]) == ("gpt-4o-mini", "gpt-4o")
    assert "mlflow.chat.tokenUsage" not in root.attributes
    # first: 3 in, 5 out; second: 2 in, 4 out
    assert trace.info.token_usage == {"input_tokens": 5, "output_tokens": 9,
                                      "total_tokens": 14}
    assert trace.info.request_preview == "one two three"


def test_cached_prompt_tokens_are_recorded(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="cached-model", messages=HELLO)
    [span] = last_trace().data.spans
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 4, "output_tokens": 4, "total_tokens": 8,
        "cache_read_input_tokens": 3}


def test_legacy_completion_is_an_llm_span(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct",
                                           prompt="Say this", max_tokens=7)
    assert completion.choices[0].text == "Completion of: Say this"
    [span] = last_trace().data.spans
    assert (span.name, span.span_type) == ("Completions", SpanType.LLM)
    assert span.inputs == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this",
                           "max_tokens": 7}
    assert span.outputs["choices"][0]["text"] == "Completion of: Say this"
    assert span.attributes["max_tokens"] == 7
    assert "prompt" not in span.attributes
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 2, "output_tokens": 4, "total_tokens": 6}


def test_embeddings_are_an_embedding_span(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small",
                                      input=["a b c", "d"], encoding_format="float")
    assert [d.embedding for d in result.data] == [[5.0, 3.0, 0.5], [1.0, 1.0, 0.5]]
    [span] = last_trace().data.spans
    assert (span.name, span.span_type) == ("Embeddings", SpanType.EMBEDDING)
    assert span.inputs == {"model": "text-embedding-3-small", "input": ["a b c", "d"],
                           "encoding_format": "float"}
    assert [d["embedding"] for d in span.outputs["data"]] == [[5.0, 3.0, 0.5],
                                                              [1.0, 1.0, 0.5]]
    assert "mlflow.message.format" not in span.attributes
    assert span.attributes["encoding_format"] == "float"
    assert span.attributes["mlflow.chat.tokenUsage"] == {"input_tokens": 4,
                                                         "total_tokens": 4}


def test_responses_api_is_a_chat_model_span(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4.1", input="Tell me a joke",
                                       instructions="Be funny")
    assert response.output_text == "You said: Tell me a joke"
    trace = last_trace()
    [span] = trace.data.spans
    assert (span.name, span.span_type) == ("Responses", SpanType.CHAT_MODEL)
    assert span.inputs == {"model": "gpt-4.1", "input": "Tell me a joke",
                           "instructions": "Be funny"}
    assert "input" not in span.attributes and "instructions" not in span.attributes
    assert span.outputs["output"][0]["content"][0]["text"] == "You said: Tell me a joke"
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 4, "output_tokens": 6, "total_tokens": 10}
    assert trace.info.token_usage == {"input_tokens": 4, "output_tokens": 6,
                                      "total_tokens": 10}


def test_tools_are_recorded_in_chat_form(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                              tools=[WEATHER_TOOL])
    assert response.choices[0].message.tool_calls is not None
    [span] = last_trace().data.spans
    assert span.attributes["mlflow.chat.tools"] == [WEATHER_TOOL]
    assert "tools" not in span.attributes
    assert span.inputs["tools"] == [WEATHER_TOOL]

    flat: Any = {"type": "function", "name": "get_weather", "description": "The weather",
             "parameters": {"type": "object", "properties": {}}}
    client.responses.create(model="gpt-4.1", input="hi", tools=[flat])
    [span] = last_trace().data.spans
    assert span.attributes["mlflow.chat.tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather",
        "parameters": {"type": "object", "properties": {}}}}]


def test_arguments_given_as_iterators_still_reach_the_api(client: openai.OpenAI,
                                                          api: CompatibleServer) -> None:
    response = client.chat.completions.create(model="gpt-4o-mini", messages=iter(HELLO),
                                              tools=iter([WEATHER_TOOL]))
    assert response.choices[0].message.tool_calls is not None
    assert api.requests[0].body["tools"] == [WEATHER_TOOL]
    assert api.requests[0].body["messages"] == HELLO
    [span] = last_trace().data.spans
    assert "mlflow.chat.tools" not in span.attributes  # not read: it was the call's to read


def test_parse_records_the_schema_and_the_parsed_answer(client: openai.OpenAI) -> None:
    class Answer(pydantic.BaseModel):
        said: str

    completion = client.chat.completions.parse(model="gpt-4o-mini", response_format=Answer,
                                               messages=HELLO)
    assert completion.choices[0].message.parsed == Answer(said="You said: Hello there")
    [span] = last_trace().data.spans
    assert (span.name, span.span_type) == ("Completions", SpanType.CHAT_MODEL)
    recorded_format = span.inputs["response_format"]
    assert recorded_format["name"] == "Answer"
    assert recorded_format["schema"]["properties"] == {"said": {"title": "Said",
                                                                "type": "string"}}
    assert span.outputs["choices"][0]["message"]["parsed"] == {"said": "You said: Hello there"}


def test_raw_responses_are_recorded_without_reading_their_body(
        client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                           messages=HELLO)
    assert raw.parse().choices[0].message.content == "You said: Hello there"
    [span] = last_trace().data.spans
    assert span.inputs == {"model": "gpt-4o-mini", "messages": HELLO}
    assert span.outputs is None
    assert span.status.status_code is SpanStatusCode.OK


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "error_type", "status"), [
    ("error-400", openai.BadRequestError, 400),
    ("error-500", openai.InternalServerError, 500),
])
def test_an_api_error_gives_an_error_span_and_reaches_the_caller_untouched(
        client: openai.OpenAI, model: str, error_type: type[openai.APIStatusError],
        status: int) -> None:
    with pytest.raises(error_type) as raised:
        client.chat.completions.create(model=model, messages=HELLO)
    assert raised.value.status_code == status
    trace = last_trace()
    [span] = trace.data.spans
    assert span.status.status_code is SpanStatusCode.ERROR
    assert trace.info.state is TraceState.ERROR
    event = exception_event(span)
    assert event["exception.type"] == error_type.__qualname__
    assert event["exception.message"] == str(raised.value)
    assert span.inputs == {"model": model, "messages": HELLO}
    assert span.outputs is None


def test_an_error_in_a_traced_function_leaves_the_call_span_ok(client: openai.OpenAI) -> None:
    @assay.trace
    def flaky() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        raise LookupError("after the call")

    with pytest.raises(LookupError):
        flaky()
    root, call = last_trace().data.spans
    assert root.status.status_code is SpanStatusCode.ERROR
    assert call.status.status_code is SpanStatusCode.OK


# -- streaming -----------------------------------------------------------------------------
def test_a_chat_stream_is_recorded_chunk_by_chunk_and_ends_with_the_stream(
        client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True,
                                            stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    assert assay.get_last_active_trace_id() is None  # the span is still open
    rest = list(stream)
    chunks = [first, *rest]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: Hello there"
    trace = last_trace()
    [span] = trace.data.spans
    values = chunk_values(span)
    assert values == [c.to_dict(mode="json") for c in chunks]
    assert span.end_time_ns is not None
    assert span.end_time_ns >= max(e.timestamp_ns for e in span.events)
    assert span.status.status_code is SpanStatusCode.OK
    assert span.inputs["stream"] is True
    assert span.outputs["object"] == "chat.completion"
    assert span.outputs["choices"] == [{
        "index": 0, "message": {"role": "assistant", "content": "You said: Hello there"},
        "finish_reason": "stop"}]
    assert span.outputs["model"] == "gpt-4o-mini"
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 4, "output_tokens": 4, "total_tokens": 8}
    assert trace.info.token_usage == {"input_tokens": 4, "output_tokens": 4, "total_tokens": 8}
    assert trace.info.response_preview == "You said: Hello there"


def test_a_stream_without_usage_records_none(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                            stream=True):
        pass
    trace = last_trace()
    [span] = trace.data.spans
    assert "mlflow.chat.tokenUsage" not in span.attributes
    assert trace.info.token_usage is None
    assert span.outputs["choices"][0]["message"]["content"] == "You said: Hello there"


def test_streamed_tool_calls_are_assembled(client: openai.OpenAI) -> None:
    with client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True,
                                        tools=[WEATHER_TOOL]) as stream:
        for _ in stream:
            pass
    [span] = last_trace().data.spans
    [choice] = span.outputs["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [{
        "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]


def test_breaking_out_of_a_stream_ends_its_span_with_what_was_read(
        client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    read = []
    for chunk in stream:
        read.append(chunk)
        if len(read) == 3:
            break
    trace = last_trace()  # written at the break, while the stream is still open
    [span] = trace.data.spans
    assert len(chunk_values(span)) == 3
    assert span.status.status_code is SpanStatusCode.OK
    assert span.outputs["choices"][0]["message"]["content"] == "You said:"
    assert span.outputs["choices"][0]["finish_reason"] is None
    stream.close()


def test_a_stream_dropped_unread_ends_its_span(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    assert assay.get_last_active_trace_id() is None
    del stream
    gc.collect()  # a stream refers to itself through its iterator
    [span] = last_trace().data.spans
    assert len(span.events) == 0
    assert span.end_time_ns is not None


def test_closing_a_stream_ends_its_span(client: openai.OpenAI) -> None:
    with client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                        stream=True) as stream:
        next(stream)
        assert assay.get_last_active_trace_id() is None
    [span] = last_trace().data.spans
    assert len(chunk_values(span)) == 1
    assert span.end_time_ns is not None


def test_an_error_in_the_middle_of_a_stream_ends_the_span_as_error(
        client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="stream-error", messages=HELLO, stream=True)
    read = []
    with pytest.raises(openai.APIError, match="stopped mid-stream"):
        for chunk in stream:
            read.append(chunk)
    assert len(read) == 2
    trace = last_trace()
    [span] = trace.data.spans
    assert span.status.status_code is SpanStatusCode.ERROR
    assert trace.info.state is TraceState.ERROR
    assert len(chunk_values(span)) == 2
    assert exception_event(span)["exception.type"] == "APIError"
    assert span.outputs["choices"][0]["message"]["content"] == "You"


def test_a_stream_read_with_next_ends_at_stop_iteration(client: openai.OpenAI) -> None:
    stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this",
                                       stream=True, stream_options={"include_usage": True})
    chunks = []
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration:
            break
    [span] = last_trace().data.spans
    assert span.span_type == SpanType.LLM
    assert len(chunk_values(span)) == len(chunks)
    assert span.outputs["object"] == "text_completion"
    assert span.outputs["choices"] == [{"index": 0, "text": "Completion of: Say this",
                                        "finish_reason": "stop"}]
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 2, "output_tokens": 4, "total_tokens": 6}


def test_a_responses_stream_takes_the_final_response(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1", input="Hi you", stream=True))
    assert events[-1].type == "response.completed"
    trace = last_trace()
    [span] = trace.data.spans
    assert [v["type"] for v in chunk_values(span)] == [e.type for e in events]
    assert span.outputs["status"] == "completed"
    assert span.outputs["output"][0]["content"][0]["text"] == "You said: Hi you"
    assert span.attributes["mlflow.chat.tokenUsage"] == {
        "input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert span.attributes["mlflow.llm.model"] == "gpt-4.1"


def test_a_failed_response_stream_is_an_error_span(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="failing-response", input="Hi",
                                          stream=True))
    assert events[-1].type == "response.failed"
    [span] = last_trace().data.spans
    assert span.status.status_code is SpanStatusCode.ERROR
    assert span.status.description == "The model crashed"


def test_the_stream_helper_works_on_a_recorded_stream(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(model="gpt-4o-mini", messages=HELLO) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "You said: Hello there"
    [span] = last_trace().data.spans
    assert span.outputs["choices"][0]["message"]["content"] == "You said: Hello there"
    assert span.inputs == {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}


# -- async ---------------------------------------------------------------------------------
def test_async_calls_and_streams_are_recorded(api: CompatibleServer, autolog: None) -> None:
    async def main() -> tuple[str, str]:
        async with async_client(api) as client:
            response = await client.chat.completions.create(model="gpt-4o-mini",
                                                            messages=HELLO)
            first_trace = assay.get_last_active_trace_id()
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=HELLO, stream=True,
                stream_options={"include_usage": True})
            assert isinstance(stream, openai.AsyncStream)
            text = ""
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
            assert first_trace is not None
            return str(response.choices[0].message.content), first_trace

    content, first_trace = asyncio.run(main())
    assert content == "You said: Hello there"
    plain = assay.get_trace(first_trace)
    assert plain is not None
    [span] = plain.data.spans
    assert (span.name, span.span_type) == ("AsyncCompletions", SpanType.CHAT_MODEL)
    assert span.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 8
    streamed = last_trace()
    [span] = streamed.data.spans
    assert span.name == "AsyncCompletions"
    assert len(chunk_values(span)) == 7
    assert span.outputs["choices"][0]["message"]["content"] == "You said: Hello there"
    assert streamed.info.token_usage == {"input_tokens": 4, "output_tokens": 4,
                                         "total_tokens": 8}


def test_async_stream_read_with_anext_and_broken_off(api: CompatibleServer,
                                                     autolog: None) -> None:
    async def main() -> None:
        async with async_client(api) as client:
            stream = await client.responses.create(model="gpt-4.1", input="a b c d",
                                                   stream=True)
            await stream.__anext__()
            async for _ in stream:
                break
            await stream.close()

    asyncio.run(main())
    [span] = last_trace().data.spans
    assert span.name == "AsyncResponses"
    assert len(chunk_values(span)) == 2
    assert span.status.status_code is SpanStatusCode.OK


def test_breaking_out_of_an_async_stream_ends_its_span(api: CompatibleServer,
                                                      autolog: None) -> None:
    async def main() -> None:
        async with async_client(api) as client:
            stream = await client.chat.completions.create(model="gpt-4o-mini",
                                                          messages=HELLO, stream=True)
            async for _ in stream:
                break
            assert assay.get_last_active_trace_id() is None  # ends once the loop lets go

    asyncio.run(main())
    [span] = last_trace().data.spans
    assert len(chunk_values(span)) == 1
    assert span.status.status_code is SpanStatusCode.OK


def test_async_errors_are_recorded_and_re_raised(api: CompatibleServer,
                                                 autolog: None) -> None:
    async def main() -> None:
        async with async_client(api) as client:
            await client.embeddings.create(model="error-400", input="x")

    with pytest.raises(openai.BadRequestError):
        asyncio.run(main())
    [span] = last_trace().data.spans
    assert (span.name, span.span_type) == ("AsyncEmbeddings", SpanType.EMBEDDING)
    assert span.status.status_code is SpanStatusCode.ERROR
    assert exception_event(span)["exception.type"] == "BadRequestError"


def test_an_async_stream_nests_under_a_traced_coroutine(api: CompatibleServer,
                                                        autolog: None) -> None:
    @assay.trace
    async def chat() -> str:
        async with async_client(api) as client:
            stream = await client.chat.completions.create(model="gpt-4o-mini",
                                                          messages=HELLO, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(chat()) == "You said: Hello there"
    root, call = last_trace().data.spans
    assert call.parent_id == root.span_id
    assert call.end_time_ns is not None and root.end_time_ns is not None
    assert call.end_time_ns <= root.end_time_ns


# -- turning it on and off -----------------------------------------------------------------
def test_disable_restores_the_original_methods(api: CompatibleServer,
                                               rt: _runtime.Runtime) -> None:
    originals = {cls: cls.__dict__["create"] for cls in (Completions, AsyncCompletions)}
    assay.openai.autolog()
    assay.openai.autolog()  # twice: still one wrapper
    try:
        for cls, original in originals.items():
            wrapper = cls.__dict__["create"]
            assert wrapper is not original
            assert wrapper.__wrapped__ is original
        with openai.OpenAI(api_key=API_KEY, base_url=api.base_url, max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert len(last_trace().data.spans) == 1
            assay.openai.autolog(disable=True)
            for cls, original in originals.items():
                assert cls.__dict__["create"] is original
            before = assay.get_last_active_trace_id()
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            assert assay.get_last_active_trace_id() == before
            assert "traceparent" not in api.requests[-1].headers
    finally:
        assay.openai.autolog(disable=True)


def test_log_traces_false_records_nothing(api: CompatibleServer, rt: _runtime.Runtime) -> None:
    original = Completions.__dict__["create"]
    assay.openai.autolog(log_traces=False)
    assert Completions.__dict__["create"] is original
    with openai.OpenAI(api_key=API_KEY, base_url=api.base_url, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert assay.get_last_active_trace_id() is None


def test_calls_pass_straight_through_when_tracing_is_off(client: openai.OpenAI,
                                                         api: CompatibleServer) -> None:
    assay.tracing.disable()
    try:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO,
                                                  stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in response) == (
            "You said: Hello there")
    finally:
        assay.tracing.enable()
    assert assay.get_last_active_trace_id() is None
    assert "traceparent" not in api.requests[0].headers


def test_importing_assay_does_not_import_openai() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import sys, assay; assay.openai; "
                               "print('openai' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
