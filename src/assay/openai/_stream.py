"""Streamed responses: each chunk an event on the call's span, the span ended with the stream.

The stream handed back to the application is the very ``Stream`` (or ``AsyncStream``) that
openai returned, moved to a subclass that records what is read from it. Every attribute,
``isinstance`` check and helper (``chat.completions.stream()`` reads the stream it wraps)
keeps working. The span ends when the stream is exhausted, closed, or abandoned (a consumer
that breaks out of its loop; the stream garbage-collected), and with ERROR when reading it
raises. Its outputs are the response rebuilt from the chunks: a ``chat.completion`` with the
text concatenated and the tool calls assembled, a ``text_completion``, or the Responses API's
final response. Usage comes from the chunk that carries it (Chat Completions sends it last
when asked with ``stream_options={"include_usage": True}``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from assay import _json
from assay.entities.span import (
    CHUNK_EVENT_PREFIX,
    CHUNK_VALUE_KEY,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
)
from assay.openai._call import Call, Kind, as_dict

__all__ = ["record_stream"]

_RECORDER = "_assay_recorder"
_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class _Recorder:
    """Records the chunks of one stream on its call's span and ends the span once."""

    __slots__ = ("call", "chat", "count", "ended", "items", "response", "text", "top")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.count = 0
        self.ended = False
        self.top: dict[str, Any] = {}  # id, model, created... of the first chunk
        self.chat: dict[int, dict[str, Any]] = {}  # per choice index
        self.response: Mapping[str, Any] | None = None  # Responses API: the final response
        self.items: list[Any] = []  # Responses API: output items completed so far
        self.text: list[str] = []  # Responses API: text deltas of the item being written

    def chunk(self, chunk: Any) -> None:
        if self.ended:
            return
        try:
            data = as_dict(chunk)
            self.call.span.add_event(SpanEvent(
                f"{CHUNK_EVENT_PREFIX}{self.count}", time.time_ns(),
                {CHUNK_VALUE_KEY: _json.dumps(data)}))
            self.count += 1
            if isinstance(data, Mapping):
                self._add(data)
        except Exception:
            self.call.log("Assay could not record a chunk of an OpenAI stream", exc_info=True)

    def end(self, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            outputs, usage, failure = self._outputs()
            span = self.call.span
            span.set_outputs(outputs)
            self.call.record_result(outputs.get("model"), usage)
            if error is not None:
                span.record_exception(error)
            elif failure is not None:
                span.set_status(SpanStatus(SpanStatusCode.ERROR, failure))
            span.end()
        except Exception:
            self.call.log("Assay could not end the span of an OpenAI stream", exc_info=True)
            self.call.span.end()

    # -- rebuilding the response ---------------------------------------------------------
    def _add(self, data: Mapping[str, Any]) -> None:
        kind = self.call.endpoint.kind
        if kind is Kind.RESPONSE:
            self._add_event(data)
            return
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if key not in self.top and data.get(key) is not None:
                self.top[key] = data[key]
        if data.get("usage"):
            self.top["usage"] = data["usage"]
        for choice in data.get("choices") or ():
            if isinstance(choice, Mapping):
                self._add_choice(choice, kind)

    def _add_choice(self, choice: Mapping[str, Any], kind: Kind) -> None:
        index = choice.get("index", 0)
        state = self.chat.setdefault(index if isinstance(index, int) else 0,
                                     {"text": [], "refusal": [], "tools": {}})
        if choice.get("finish_reason") is not None:
            state["finish_reason"] = choice["finish_reason"]
        if kind is Kind.COMPLETION:
            if isinstance(choice.get("text"), str):
                state["text"].append(choice["text"])
            return
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return
        if isinstance(delta.get("role"), str):
            state["role"] = delta["role"]
        if isinstance(delta.get("content"), str):
            state["text"].append(delta["content"])
        if isinstance(delta.get("refusal"), str):
            state["refusal"].append(delta["refusal"])
        for call in delta.get("tool_calls") or ():
            if not isinstance(call, Mapping):
                continue
            tool = state["tools"].setdefault(call.get("index", len(state["tools"])),
                                             {"name": [], "arguments": []})
            for key in ("id", "type"):
                if call.get(key):
                    tool[key] = call[key]
            function = call.get("function")
            if isinstance(function, Mapping):
                if isinstance(function.get("name"), str):
                    tool["name"].append(function["name"])
                if isinstance(function.get("arguments"), str):
                    tool["arguments"].append(function["arguments"])

    def _add_event(self, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind in _TERMINAL_EVENTS and isinstance(data.get("response"), Mapping):
            self.response = data["response"]
        elif kind == "response.output_item.done" and data.get("item") is not None:
            self.items.append(data["item"])
            self.text.clear()
        elif kind == "response.output_text.delta" and isinstance(data.get("delta"), str):
            self.text.append(data["delta"])
        elif kind == "response.created" and isinstance(data.get("response"), Mapping):
            self.top["model"] = data["response"].get("model")
            self.top["id"] = data["response"].get("id")

    def _outputs(self) -> tuple[dict[str, Any], Any, str | None]:
        """The rebuilt response, its usage, and the error the stream reported (if any)."""
        kind = self.call.endpoint.kind
        if kind is Kind.RESPONSE:
            if self.response is not None:
                response = dict(self.response)
                error = response.get("error")
                failure = None
                if response.get("status") == "failed":
                    failure = (str(error.get("message")) if isinstance(error, Mapping)
                               and error.get("message") else "the response failed")
                return response, response.get("usage"), failure
            items = list(self.items)
            if self.text:  # the stream stopped while a message was being written
                items.append({"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "".join(self.text)}]})
            return {**self.top, "object": "response", "output": items}, None, None
        choices = []
        for index in sorted(self.chat):
            state = self.chat[index]
            text = "".join(state["text"])
            choice: dict[str, Any] = {"index": index}
            if kind is Kind.COMPLETION:
                choice["text"] = text
            else:
                message: dict[str, Any] = {"role": state.get("role", "assistant"),
                                           "content": text or None}
                if state["refusal"]:
                    message["refusal"] = "".join(state["refusal"])
                if state["tools"]:
                    message["tool_calls"] = [
                        {"id": tool.get("id"), "type": tool.get("type", "function"),
                         "function": {"name": "".join(tool["name"]),
                                      "arguments": "".join(tool["arguments"])}}
                        for _, tool in sorted(state["tools"].items())]
                choice["message"] = message
            choice["finish_reason"] = state.get("finish_reason")
            choices.append(choice)
        outputs = {**self.top, "object": "chat.completion" if kind is Kind.CHAT
                   else "text_completion", "choices": choices}
        return outputs, self.top.get("usage"), None


def _recorder(stream: Any) -> _Recorder | None:
    recorder = stream.__dict__.get(_RECORDER)
    return recorder if isinstance(recorder, _Recorder) else None


def _sync_methods(base: Any) -> dict[str, Any]:
    """The methods that record a ``Stream`` as it is read, over those of ``base``."""

    def __next__(self: Any) -> Any:
        recorder = _recorder(self)
        try:
            item = base.__next__(self)
        except StopIteration:
            if recorder is not None:
                recorder.end()
            raise
        except BaseException as exc:
            if recorder is not None:
                recorder.end(exc)
            raise
        if recorder is not None:
            recorder.chunk(item)
        return item

    def __iter__(self: Any) -> Iterator[Any]:
        recorder = _recorder(self)
        try:
            for item in base.__iter__(self):
                if recorder is not None:
                    recorder.chunk(item)
                yield item
        except GeneratorExit:
            raise  # the loop was left early: the span ends below with what was read
        except BaseException as exc:
            if recorder is not None:
                recorder.end(exc)
            raise
        finally:
            if recorder is not None:
                recorder.end()

    def close(self: Any) -> None:
        recorder = _recorder(self)
        try:
            base.close(self)
        finally:
            if recorder is not None:
                recorder.end()

    return {"__next__": __next__, "__iter__": __iter__, "close": close, "__del__": _end_at_gc}


def _async_methods(base: Any) -> dict[str, Any]:
    """The methods that record an ``AsyncStream`` as it is read, over those of ``base``."""

    async def __anext__(self: Any) -> Any:
        recorder = _recorder(self)
        try:
            item = await base.__anext__(self)
        except StopAsyncIteration:
            if recorder is not None:
                recorder.end()
            raise
        except BaseException as exc:
            if recorder is not None:
                recorder.end(exc)
            raise
        if recorder is not None:
            recorder.chunk(item)
        return item

    async def __aiter__(self: Any) -> AsyncIterator[Any]:
        recorder = _recorder(self)
        try:
            async for item in base.__aiter__(self):
                if recorder is not None:
                    recorder.chunk(item)
                yield item
        except GeneratorExit:
            raise  # the loop was left early: the span ends below with what was read
        except BaseException as exc:
            if recorder is not None:
                recorder.end(exc)
            raise
        finally:
            if recorder is not None:
                recorder.end()

    async def close(self: Any) -> None:
        recorder = _recorder(self)
        try:
            await base.close(self)
        finally:
            if recorder is not None:
                recorder.end()

    return {"__anext__": __anext__, "__aiter__": __aiter__, "close": close,
            "__del__": _end_at_gc}


def _end_at_gc(self: Any) -> None:
    # A stream dropped unread (or half read) still ends its span.
    recorder = _recorder(self)
    if recorder is not None:
        recorder.end()


# One recording subclass per openai stream class, made on first use.
_subclasses: dict[type, type] = {}


def _recording_class(cls: type, is_async: bool) -> type:
    """A subclass of ``cls`` that records; its instances keep ``cls``'s name and layout, so
    a stream can be moved to it."""
    sub = _subclasses.get(cls)
    if sub is None:
        methods = _async_methods(cls) if is_async else _sync_methods(cls)
        sub = type(cls.__name__, (cls,), {**methods, "__module__": cls.__module__,
                                          "__qualname__": cls.__qualname__})
        _subclasses[cls] = sub
    return sub


def record_stream(stream: Any, call: Call, is_async: bool) -> Any:
    """Record ``stream`` (as it is read) on the call's span and hand it back.

    A stream that cannot be recorded is handed back untouched and its span ended.
    """
    call.detach()
    try:
        stream.__dict__[_RECORDER] = _Recorder(call)
        stream.__class__ = _recording_class(type(stream), is_async)
    except Exception:
        call.log("Assay cannot record this OpenAI stream (%s); its span is ended",
                 type(stream).__name__, exc_info=True)
        stream.__dict__.pop(_RECORDER, None)
        call.span.end()
    return stream
