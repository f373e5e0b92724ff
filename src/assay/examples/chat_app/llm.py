"""The language model behind the chat app: any OpenAI-compatible endpoint, or an offline
responder so that the app runs with no key and no network.

Both take chat messages and give the answer whole (:meth:`ChatModel.complete`) or word by
word (:meth:`ChatModel.stream`), and both leave a CHAT_MODEL span with the messages, the
answer and the token usage on the current trace: the OpenAI client through
``assay.openai.autolog()``, the offline responder through ``@assay.trace``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import assay
from assay.entities import SpanType
from assay.examples.chat_app.documents import DOCUMENTS, content_words
from assay.examples.chat_app.settings import ChatAppSettings

if TYPE_CHECKING:
    import openai

__all__ = [
    "OFFLINE_MODEL",
    "SYSTEM_PROMPT",
    "ChatModel",
    "LanguageModelError",
    "OfflineResponder",
    "OpenAIChat",
    "build_messages",
    "compose_answer",
    "create_chat_model",
    "offline_completion",
    "offline_usage",
]

Message = dict[str, str]

#: The model name the offline responder records on its spans.
OFFLINE_MODEL = "assay-offline-responder"
SYSTEM_PROMPT = ("You are the assistant of Assay, a platform for traces and human feedback on "
                 "LLM apps. Answer in two or three sentences, using only the context.")
#: The most tokens the endpoint may answer with.
MAX_TOKENS = 300

_TOKEN_USAGE = "mlflow.chat.tokenUsage"
_MODEL = "mlflow.llm.model"
_PASSAGE = re.compile(r"^\[\d+\] (?P<title>[^:\n]+): (?P<text>.+)$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PIECE = re.compile(r"\S+\s*")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_GREETINGS = frozenset({"hi", "hello", "hey", "thank"})
_TOPICS = ", ".join(doc.title.lower() for doc in DOCUMENTS)


class LanguageModelError(Exception):
    """The language model could not answer (the endpoint refused, failed or went away)."""


class ChatModel(Protocol):
    """What the app asks of a language model; it raises :class:`LanguageModelError` when
    the model fails."""

    @property
    def name(self) -> str:
        """The model's name, as recorded on the trace."""
        ...

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole answer to the conversation."""
        ...

    def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """The answer in pieces, as they are written."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def build_messages(question: str, documents: Sequence[dict[str, Any]]) -> list[Message]:
    """The prompt: the instructions, then the retrieved passages and the question."""
    context = "\n".join(f"[{n}] {doc['metadata']['title']}: {doc['page_content']}"
                        for n, doc in enumerate(documents, 1))
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Context:\n{context or '(nothing found)'}\n\n"
                                        f"Question: {question}"}]


def create_chat_model(settings: ChatAppSettings) -> ChatModel:
    """The OpenAI-compatible endpoint of the settings, else the offline responder."""
    if settings.uses_openai:
        return OpenAIChat(settings.model, settings.openai_base_url, settings.openai_api_key)
    return OfflineResponder(settings.token_delay_seconds)


class OpenAIChat:
    """Chat completions from an OpenAI-compatible endpoint, through the ``openai`` client.

    Calls are traced by ``assay.openai.autolog()`` (the app turns it on at startup): each is
    a CHAT_MODEL span under the current one, streams included.
    """

    def __init__(self, model: str, base_url: str | None, api_key: str | None) -> None:
        import openai  # only when an endpoint is configured: the offline app needs no openai

        # A local server (vLLM, Ollama, ...) often needs no key, but the client wants one.
        key = api_key or "no-key"
        self._errors = openai.OpenAIError
        self._model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=key)
        self._async_client = openai.AsyncOpenAI(base_url=base_url, api_key=key)

    @property
    def name(self) -> str:
        return self._model

    def complete(self, messages: Sequence[Message]) -> str:
        try:
            response = self._client.chat.completions.create(
                model=self._model, messages=_openai_messages(messages),
                max_tokens=MAX_TOKENS, temperature=0.2)
        except self._errors as exc:
            raise LanguageModelError(f"{self._model} did not answer: {exc}") from exc
        return response.choices[0].message.content or ""

    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        try:
            stream = await self._async_client.chat.completions.create(
                model=self._model, messages=_openai_messages(messages),
                max_tokens=MAX_TOKENS, temperature=0.2, stream=True,
                stream_options={"include_usage": True})
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except self._errors as exc:
            raise LanguageModelError(f"{self._model} stopped answering: {exc}") from exc

    async def aclose(self) -> None:
        self._client.close()
        await self._async_client.close()


def _openai_messages(messages: Sequence[Message]
                     ) -> list[openai.types.chat.ChatCompletionMessageParam]:
    converted: list[Any] = [dict(m) for m in messages]
    return converted


class OfflineResponder:
    """A small deterministic stand-in for a language model.

    It answers from the context in the prompt, as a model asked to would: from the passage
    that shares the most words with the question, the two sentences that match it best; and
    it says so when no passage does. Token counts are words and punctuation marks.

    Args:
        delay_seconds: the pause between two streamed words, so that the page shows the
            answer being written (0: none).
    """

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self._delay = delay_seconds

    @property
    def name(self) -> str:
        return OFFLINE_MODEL

    @assay.trace(name="offline_responder", span_type=SpanType.CHAT_MODEL,
                 attributes={_MODEL: OFFLINE_MODEL})
    def complete(self, messages: Sequence[Message]) -> str:
        answer = compose_answer(messages)
        span = assay.get_current_active_span()
        if span is not None:
            span.set_attribute(_TOKEN_USAGE, offline_usage(messages, answer))
            span.set_outputs(offline_completion(answer))
        return answer

    @assay.trace(name="offline_responder", span_type=SpanType.CHAT_MODEL,
                 attributes={_MODEL: OFFLINE_MODEL},
                 output_reducer=lambda pieces: offline_completion("".join(pieces)))
    async def stream(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        answer = compose_answer(messages)
        for piece in _PIECE.findall(answer):
            if self._delay:
                await asyncio.sleep(self._delay)
            yield piece
        span = assay.get_current_active_span()
        if span is not None:
            span.set_attribute(_TOKEN_USAGE, offline_usage(messages, answer))

    async def aclose(self) -> None:
        return None


def compose_answer(messages: Sequence[Message]) -> str:
    """The offline responder's answer to the last user message of ``messages``: the two
    sentences that best match the question, from the passage of the context that matches it
    best (the first such passage on a tie)."""
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    context, marker, question = prompt.rpartition("Question:")
    if not marker:
        context, question = "", prompt
    wanted = content_words(question)
    if not wanted or wanted <= _GREETINGS:
        return f"Hello! Ask me about Assay: {_TOPICS}."
    best: list[str] = []
    best_overlap = 0
    for passage in _PASSAGE.finditer(context):
        overlap = len(wanted & content_words(f"{passage['title']} {passage['text']}"))
        if overlap > best_overlap:
            best_overlap = overlap
            best = _SENTENCE_END.split(passage["text"].strip())
    if not best:
        return f"I could not find that in my documents. I can tell you about {_TOPICS}."
    ranked = sorted(range(len(best)),
                    key=lambda i: (-len(wanted & content_words(best[i])), i))[:2]
    return " ".join(best[i] for i in sorted(ranked))


def offline_usage(messages: Sequence[Message], answer: str) -> dict[str, int]:
    """The token usage the offline responder records: words and punctuation counted as
    tokens, of the messages (input) and of the answer (output)."""
    prompt_tokens = sum(len(_TOKEN.findall(m.get("content", ""))) for m in messages)
    answer_tokens = len(_TOKEN.findall(answer))
    return {"input_tokens": prompt_tokens, "output_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens}


def offline_completion(answer: str) -> dict[str, Any]:
    """The answer in the shape of a chat completion, as the trace view shows one."""
    return {"object": "chat.completion", "model": OFFLINE_MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer}}]}
