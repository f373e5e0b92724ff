"""A small OpenAI-compatible HTTP server for tests: a Starlette app under uvicorn on
127.0.0.1 (an ephemeral port), in a background thread.

It answers what the real ``openai`` client sends, in the shapes the OpenAI API uses:

- ``POST /v1/chat/completions``: "You said: <last user message>", or a call of the first tool
  offered; with ``stream`` true, server-sent events of ``chat.completion.chunk`` (role, one
  chunk per word, the finish reason), a last chunk with ``usage`` when
  ``stream_options.include_usage`` is true, then ``[DONE]``.
- ``POST /v1/completions``: "Completion of: <prompt>", plain or streamed the same way.
- ``POST /v1/embeddings``: three numbers per input (float or base64).
- ``POST /v1/responses``: a ``response`` with one output message, or streamed as the
  Responses API's events (``response.created`` ... ``response.completed``).

Token counts are word counts, so tests know them. Some model names misbehave on purpose:
``error-400`` and ``error-500`` answer with that status and an OpenAI error body,
``stream-error`` sends an error event after two chunks of a stream, a JSON-schema
``response_format`` gets an object with the reply in every string field, ``failing-response``
streams a Responses ``response.failed`` event, and ``cached-model`` reports 3 cached prompt
tokens. Every request is kept (path, headers, body) in ``requests`` for tests to look at.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from threaded_server import ThreadedServer

CREATED = 1_700_000_000


@dataclass(frozen=True)
class ReceivedRequest:
    """A request the server answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class CompatibleServer:
    """The OpenAI-compatible app served by uvicorn in a background thread."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        app = Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/completions", self._completions, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            Route("/v1/responses", self._responses, methods=["POST"]),
        ])
        self._http = ThreadedServer(app, name="OpenAI-compatible test server")

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        """What to pass as the openai client's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- endpoints ---------------------------------------------------------------------
    async def _read(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = await request.json()
        self.requests.append(ReceivedRequest(request.url.path, dict(request.headers), body))
        model = body.get("model")
        if model == "error-400":
            return body, _error(400, "invalid_request_error",
                                f"The model `{model}` does not exist", "model")
        if model == "error-500":
            return body, _error(500, "server_error", "The server had an error", None)
        return body, None

    async def _chat(self, request: Request) -> Response:
        body, error = await self._read(request)
        if error is not None:
            return error
        model = body["model"]
        messages = body.get("messages") or []
        prompt_tokens = sum(_words(m.get("content")) for m in messages)
        tools = body.get("tools") or []
        reply = "You said: " + _last_user_text(messages)
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":  # structured output: fill the fields
            schema = response_format["json_schema"]["schema"]
            reply = json.dumps({name: reply for name in schema.get("properties", {})})
        tool_call = None
        if tools and body.get("tool_choice") != "none":
            tool_call = {"id": "call_1", "type": "function",
                         "function": {"name": tools[0]["function"]["name"],
                                      "arguments": '{"city": "Paris"}'}}
        completion_tokens = 4 if tool_call else _words(reply)
        usage = _usage(model, prompt_tokens, completion_tokens)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _chat_chunks(model, reply, tool_call, usage if include_usage else None)
            return _sse(chunks, error_after=2 if model == "stream-error" else None)
        message: dict[str, Any] = {"role": "assistant", "content": None if tool_call else reply,
                                   "refusal": None}
        if tool_call:
            message["tool_calls"] = [tool_call]
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "created": CREATED,
            "model": model, "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if tool_call else "stop"}],
            "usage": usage,
        })

    async def _completions(self, request: Request) -> Response:
        body, error = await self._read(request)
        if error is not None:
            return error
        model = body["model"]
        prompt = body.get("prompt")
        prompt_text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt or []))
        reply = "Completion of: " + prompt_text
        usage = _usage(model, _words(prompt_text), _words(reply))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _completion_chunks(model, reply, usage if include_usage else None)
            return _sse(chunks, error_after=2 if model == "stream-error" else None)
        return JSONResponse({
            "id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        })

    async def _embeddings(self, request: Request) -> Response:
        body, error = await self._read(request)
        if error is not None:
            return error
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            vector = [float(len(str(text))), float(_words(str(text))), 0.5]
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack("<3f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(_words(str(t)) for t in inputs)
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _responses(self, request: Request) -> Response:
        body, error = await self._read(request)
        if error is not None:
            return error
        model = body["model"]
        given = body.get("input")
        if isinstance(given, str):
            text, input_tokens = given, _words(given)
        else:
            messages = given or []
            text = _last_user_text(messages)
            input_tokens = sum(_words(m.get("content")) for m in messages)
        reply = "You said: " + text
        usage = {"input_tokens": input_tokens, "output_tokens": _words(reply),
                 "total_tokens": input_tokens + _words(reply),
                 "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens_details": {"reasoning_tokens": 0}}
        item = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": reply, "annotations": []}]}
        response = {"id": "resp_1", "object": "response", "created_at": CREATED,
                    "model": model, "status": "completed", "output": [item], "usage": usage,
                    "error": None, "incomplete_details": None, "instructions": None,
                    "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
        if body.get("stream"):
            return _sse(_response_events(response, reply, model == "failing-response"),
                        done=False)
        return JSONResponse(response)


def _error(status: int, kind: str, message: str, param: str | None) -> Response:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param,
                                   "code": None}}, status_code=status)


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):  # content parts
        return sum(_words(p.get("text")) for p in content if isinstance(p, dict))
    return 0


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content
                                if isinstance(p, dict))
    return ""


def _usage(model: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 3 if model == "cached-model" else 0}}


def _pieces(text: str) -> list[str]:
    """The text in chunks of one word each (with the space before it)."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


def _chat_chunks(model: str, reply: str, tool_call: dict[str, Any] | None,
                 usage: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED,
                "model": model, "system_fingerprint": "fp_test",
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    if tool_call is not None:
        function = tool_call["function"]
        yield chunk({"tool_calls": [{"index": 0, "id": tool_call["id"], "type": "function",
                                     "function": {"name": function["name"],
                                                  "arguments": ""}}]})
        arguments = function["arguments"]
        for part in (arguments[:5], arguments[5:]):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls")
    else:
        for piece in _pieces(reply):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
    if usage is not None:
        yield {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": CREATED,
               "model": model, "choices": [], "usage": usage}


def _completion_chunks(model: str, reply: str,
                       usage: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        return {"id": "cmpl-1", "object": "text_completion", "created": CREATED,
                "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": None,
                             "finish_reason": finish}]}

    for piece in _pieces(reply):
        yield chunk(piece)
    yield chunk("", "stop")
    if usage is not None:
        yield {"id": "cmpl-1", "object": "text_completion", "created": CREATED,
               "model": model, "choices": [], "usage": usage}


def _response_events(response: dict[str, Any], reply: str,
                     fail: bool) -> Iterator[dict[str, Any]]:
    item = response["output"][0]
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": 0, "response": started}
    if fail:
        failed = {**started, "status": "failed",
                  "error": {"code": "server_error", "message": "The model crashed"}}
        yield {"type": "response.failed", "sequence_number": 1, "response": failed}
        return
    seq = 1
    empty_item = {**item, "status": "in_progress", "content": []}
    yield {"type": "response.output_item.added", "sequence_number": seq, "output_index": 0,
           "item": empty_item}
    seq += 1
    part = {"type": "output_text", "text": "", "annotations": []}
    yield {"type": "response.content_part.added", "sequence_number": seq,
           "item_id": item["id"], "output_index": 0, "content_index": 0, "part": part}
    for piece in _pieces(reply):
        seq += 1
        yield {"type": "response.output_text.delta", "sequence_number": seq,
               "item_id": item["id"], "output_index": 0, "content_index": 0,
               "delta": piece, "logprobs": []}
    seq += 1
    yield {"type": "response.output_text.done", "sequence_number": seq, "item_id": item["id"],
           "output_index": 0, "content_index": 0, "text": reply, "logprobs": []}
    seq += 1
    yield {"type": "response.content_part.done", "sequence_number": seq,
           "item_id": item["id"], "output_index": 0, "content_index": 0,
           "part": item["content"][0]}
    seq += 1
    yield {"type": "response.output_item.done", "sequence_number": seq, "output_index": 0,
           "item": item}
    seq += 1
    yield {"type": "response.completed", "sequence_number": seq, "response": response}


def _sse(events: Iterator[dict[str, Any]], error_after: int | None = None,
         done: bool = True) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for n, event in enumerate(events):
            if error_after is not None and n == error_after:
                error = {"error": {"message": "The model stopped mid-stream",
                                   "type": "server_error"}}
                yield f"data: {json.dumps(error)}\n\n".encode()
                return
            name = event.get("type") if event.get("object") is None else None
            prefix = f"event: {name}\n" if name else ""
            yield f"{prefix}data: {json.dumps(event)}\n\n".encode()
        if done:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")
