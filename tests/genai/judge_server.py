"""An OpenAI-compatible judge for tests: ``POST /v1/chat/completions`` answering each judge
prompt with a verdict decided by a fixed rule on the prompt's sections, so tests know it.

The rule, on the tagged sections Assay's prompts carry (``<response>``, ``<expected_response>``,
``<expected_facts>``, ``<request>``, ``<document>``, ``<documents>``, ``<tool_calls>``,
``<expected_tool_calls>``):

- with an expected response or facts: "yes" when every word of four letters or more in them
  is in the response (or, without a response, in the documents);
- a document and a request: "yes" when they share such a word;
- documents and a response: "yes" when every such word of the response is in the documents;
- tool calls (``<tool_calls>``): with ``<expected_tool_calls>``, "yes" when every such word
  of the expected calls (but the keys ``name`` and ``arguments``) is in the calls made;
  alone, "no" when a call (tool, arguments and result) appears twice;
- otherwise "yes", unless the prompt holds the word UNSAFE.

A prompt with few-shot examples (``<example>`` blocks, as an aligned judge writes them)
learns from them like a nearest neighbour: the rule above reads the prompt without its
examples, then the example whose ``<example_outputs>`` shares the most such words with the
prompt's ``<response>`` (or, without one, the rest of the prompt) gives its
``<human_verdict>``; with no word shared, the rule's verdict stands.

The answer is ``{"rationale": ..., "result": ...}`` as JSON; token counts are word counts.
Some model names misbehave on purpose: ``slow-<ms>`` answers after that many milliseconds,
``flaky`` answers 429 (``Retry-After: 0``) to the first call of each prompt, ``down`` always
answers 503, ``prose`` answers in words with a ``Result:`` line, ``rambling`` answers with no
verdict at all, ``no-schema`` refuses a ``response_format`` with a 400. Every request body is
kept in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threaded_server import ThreadedServer

_WORD = re.compile(r"[a-z0-9]{4,}")


def _section(prompt: str, tag: str) -> str | None:
    found = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", prompt, re.DOTALL)
    return None if found is None else found.group(1)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


_EXAMPLE = re.compile(r"<example>\n(.*?)\n</example>", re.DOTALL)


def verdict(prompt: str) -> tuple[str, str]:
    """The verdict on a prompt (its examples first, then the rule), and why."""
    examples = _EXAMPLE.findall(prompt)
    rest = _EXAMPLE.sub("", prompt)
    if examples:
        target = _words(_section(rest, "response") or rest)
        best, shared = None, 0
        for number, example in enumerate(examples, 1):
            overlap = len(_words(_section(example, "example_outputs") or "") & target)
            if overlap > shared:
                best, shared = (number, example), overlap
        if best is not None:
            answer = (_section(best[1], "human_verdict") or "").strip()
            return answer, f"like example {best[0]}"
    return _rule(rest)


def _rule(prompt: str) -> tuple[str, str]:
    calls = _section(prompt, "tool_calls")
    if calls is not None:
        return _tool_rule(calls, _section(prompt, "expected_tool_calls"))
    response = _section(prompt, "response")
    expected = _section(prompt, "expected_response") or _section(prompt, "expected_facts")
    document = _section(prompt, "document")
    documents = _section(prompt, "documents")
    request = _section(prompt, "request")
    if expected is not None and response is not None:
        missing = sorted(_words(expected) - _words(response))
        return ("no", f"missing: {', '.join(missing)}") if missing else (
            "yes", "every expected word is in the response")
    if expected is not None and documents is not None:
        missing = sorted(_words(expected) - _words(documents))
        return ("no", f"not in the documents: {', '.join(missing)}") if missing else (
            "yes", "the documents hold everything expected")
    if document is not None and request is not None:
        shared = _words(document) & _words(request)
        return ("yes", "shares words with the request") if shared else (
            "no", "shares no word with the request")
    if documents is not None and response is not None:
        unsupported = sorted(_words(response) - _words(documents))
        return ("no", f"unsupported: {', '.join(unsupported)}") if unsupported else (
            "yes", "every word is in the documents")
    if "UNSAFE" in prompt:
        return "no", "the prompt says UNSAFE"
    return "yes", "nothing wrong found"


def _tool_rule(calls: str, expected: str | None) -> tuple[str, str]:
    if expected is not None:
        missing = sorted(_words(expected) - _words(calls) - {"name", "arguments"})
        return ("no", f"not called: {', '.join(missing)}") if missing else (
            "yes", "every expected call was made")
    made = [line.split(". ", 1)[-1] for line in calls.splitlines()]
    repeated = sorted({call for call in made if made.count(call) > 1})
    return ("no", f"repeated: {'; '.join(repeated)}") if repeated else (
        "yes", "no call repeated")


class JudgeServer:
    """The judge app served by uvicorn in a background thread."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._http = ThreadedServer(
            Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])]),
            name="judge server")

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        return f"{self._http.url}/v1"

    def prompts(self) -> list[str]:
        """The user prompt of every request so far."""
        return [r["messages"][-1]["content"] for r in self.requests]

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
        model: str = body["model"]
        prompt: str = body["messages"][-1]["content"]
        if model.startswith("slow-"):
            await asyncio.sleep(int(model.removeprefix("slow-")) / 1000)
        if model == "down":
            return _error(503, "The judge is down")
        if model == "flaky":
            with self._lock:
                first = prompt not in self._seen
                self._seen.add(prompt)
            if first:
                return _error(429, "Rate limit reached", {"retry-after": "0"})
        if model == "no-schema" and "response_format" in body:
            return _error(400, "response_format is not supported by this model")
        result, rationale = verdict(prompt)
        if model == "prose":
            content = f"Looking at it closely: {rationale}.\nResult: {result}"
        elif model == "rambling":
            content = "It is hard to say; there are many ways to look at this."
        else:
            content = json.dumps({"rationale": rationale, "result": result})
        prompt_tokens = sum(len(str(m["content"]).split()) for m in body["messages"])
        completion_tokens = len(content.split())
        return JSONResponse({
            "id": "chatcmpl-judge", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content,
                                     "refusal": None}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "type": "server_error",
                                   "param": None, "code": None}},
                        status_code=status, headers=headers)
