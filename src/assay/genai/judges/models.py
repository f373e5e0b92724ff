"""Calling a judge's model: ``openai:/<model>`` through the openai client, to OpenAI or to any
OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, a gateway) named by ``OPENAI_BASE_URL``.

One call asks for a JSON object ``{"rationale": ..., "result": ...}``: with a JSON-schema
``response_format`` where the endpoint takes one, and plain where it refuses it (remembered per
endpoint and model); the answer is parsed leniently (a JSON object anywhere in the text, or a
``result:`` line), and one that cannot be parsed raises :class:`JudgeAnswerError` quoting it.
Rate limits (429), server errors (5xx), timeouts and dropped connections are retried with
exponential backoff by the openai client (``max_retries``), honouring ``Retry-After``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay import settings
from assay.errors import InvalidParameterError
from assay.genai.judges.pricing import check_price, cost_usd, list_price
from assay.settings import DEFAULT_JUDGE_MODEL

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_JUDGE_MODEL",
    "JudgeAnswer",
    "JudgeAnswerError",
    "JudgeModel",
    "default_judge_model",
]

_PROVIDERS = ("openai",)
_MAX_QUOTED = 500


def default_judge_model() -> str:
    """The judge model of this environment (``ASSAY_GENAI_JUDGE_DEFAULT_MODEL``, then
    ``MLFLOW_GENAI_JUDGE_DEFAULT_MODEL``, then :data:`DEFAULT_JUDGE_MODEL`)."""
    return settings.judge_model_from_env()


class JudgeAnswerError(Exception):
    """The model answered, but not with a verdict that can be read."""


@dataclass(frozen=True)
class JudgeAnswer:
    """What a judge's model said: its ``result``, its ``rationale``, the tokens used and
    what they cost."""

    result: Any
    rationale: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None  # at the model's price, when it is known


class JudgeModel:
    """A model to judge with, named as ``<provider>:/<model>`` (only ``openai`` is built in:
    it reaches any OpenAI-compatible endpoint).

    Args:
        uri: e.g. ``"openai:/gpt-4o-mini"``; a bare model name means ``openai``.
        base_url: the endpoint (default ``OPENAI_BASE_URL``, else OpenAI's).
        api_key: default ``OPENAI_API_KEY``; a local endpoint without one needs none.
        timeout: seconds one attempt may take.
        max_retries: attempts after the first, on 429, 5xx, timeouts and lost connections.
        inference_params: more arguments of the chat completion (temperature, ...).
        extra_headers: headers sent with every call.
        cost_per_million_tokens: ``(input, output)`` US dollars per million tokens, for the
            cost of each call (default: the model's list price in
            :data:`~assay.genai.judges.pricing.PRICES_PER_MILLION_TOKENS`, if listed).
    """

    def __init__(self, uri: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 5,
                 inference_params: Mapping[str, Any] | None = None,
                 extra_headers: Mapping[str, str] | None = None,
                 cost_per_million_tokens: Sequence[float] | None = None) -> None:
        if not isinstance(uri, str) or not uri.strip():
            raise InvalidParameterError(
                f"Invalid judge model {uri!r}: expected '<provider>:/<model>', e.g. "
                "'openai:/gpt-4o-mini'")
        provider, sep, name = uri.partition(":/")
        if not sep:
            provider, name = "openai", uri
        name = name.lstrip("/")
        if provider not in _PROVIDERS or not name:
            raise InvalidParameterError(
                f"Invalid judge model {uri!r}: expected 'openai:/<model>' (any "
                "OpenAI-compatible endpoint, set by OPENAI_BASE_URL)")
        self.uri = f"{provider}:/{name}"
        self.provider = provider
        self.name = name
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.inference_params = dict(inference_params or {})
        self.extra_headers = dict(extra_headers or {})
        self.price = check_price(cost_per_million_tokens) or list_price(name)
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JudgeModel({self.uri!r})"

    def client(self) -> openai.OpenAI:
        """The openai client of this model's endpoint (made once)."""
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError:  # pragma: no cover - openai is installed by [openai]
                    raise InvalidParameterError(
                        "LLM judges call their model with the openai package: "
                        "pip install 'assay[openai]'") from None
                env_url, env_key = settings.openai_endpoint_from_env()
                base_url = self.base_url or env_url
                api_key = self.api_key or env_key
                if not api_key:
                    if base_url is None:
                        raise InvalidParameterError(
                            f"Judge model {self.uri} needs OPENAI_API_KEY (or "
                            "OPENAI_BASE_URL for an endpoint that takes no key)")
                    api_key = "unused"  # a local endpoint that checks no key
                self._client = openai.OpenAI(base_url=base_url, api_key=api_key,
                                             timeout=self.timeout,
                                             max_retries=self.max_retries,
                                             default_headers=self.extra_headers or None)
            return self._client

    def judge(self, prompt: str, result_schema: Mapping[str, Any]) -> JudgeAnswer:
        """Ask for a verdict on ``prompt``; ``result_schema`` is the JSON schema of its
        ``result``. Raises the openai client's errors once its retries are spent, and
        :class:`JudgeAnswerError` for an answer without a readable verdict."""
        import openai

        client = self.client()
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": prompt}]
        key = (str(client.base_url), self.name)
        structured = key not in _PLAIN_ONLY
        while True:
            arguments: dict[str, Any] = {"model": self.name, "messages": messages,
                                         **self.inference_params}
            if structured:
                arguments["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "judgement", "strict": True, "schema": {
                        "type": "object", "additionalProperties": False,
                        "required": ["rationale", "result"],
                        "properties": {"rationale": {"type": "string"},
                                       "result": dict(result_schema)}}}}
            try:
                # The client's own request (its retries, errors and headers), with the body
                # sent as it is and the answer read as plain JSON: chat.completions.create
                # walks the body through its typed parameters and builds typed objects of
                # the answer, about 1 ms of CPU a call (benchmarks/evaluation.py).
                completion = client.post("/chat/completions", body=arguments, cast_to=object)
            except openai.BadRequestError as exc:
                if structured and "response_format" in str(exc):
                    _PLAIN_ONLY.add(key)  # this endpoint takes no JSON schema: ask plainly
                    structured = False
                    continue
                raise
            break
        result, rationale = parse_verdict(_content(completion))
        usage = completion.get("usage") if isinstance(completion, dict) else None
        prompt_tokens = _count(usage, "prompt_tokens")
        completion_tokens = _count(usage, "completion_tokens")
        return JudgeAnswer(result=result, rationale=rationale, prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens,
                           cost_usd=cost_usd(self.price, prompt_tokens, completion_tokens))


def _content(completion: object) -> str:
    """The text of a chat completion's first choice ("" when it has none)."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _count(usage: object, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Endpoints and models that refused a JSON-schema response_format.
_PLAIN_ONLY: set[tuple[str, str]] = set()

SYSTEM_PROMPT = (
    "You are a careful evaluator of answers given by an AI application. Follow the "
    "instructions exactly, judge only from the material given, and reply with one JSON "
    'object and nothing else: {"rationale": "<your reasoning, step by step, in a few '
    'sentences>", "result": <your verdict>}.')

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_RESULT_LINE = re.compile(r"^\W*(?:result|verdict|answer)\W*[:=]\s*(.+?)\s*$",
                          re.IGNORECASE | re.MULTILINE)


def parse_verdict(text: str) -> tuple[Any, str | None]:
    """``(result, rationale)`` from a judge's answer: a JSON object (bare, fenced, or inside
    prose), else a ``result: ...`` line. Raises :class:`JudgeAnswerError` quoting it."""
    candidates = [text.strip()]
    if found := _OBJECT.search(text):
        candidates.append(found.group(0))
    for candidate in candidates:
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "result" in parsed:
            rationale = parsed.get("rationale")
            return parsed["result"], None if rationale is None else str(rationale)
    if line := _RESULT_LINE.search(text):
        rationale = text[:line.start()].strip() or None
        return line.group(1).strip(" \"'`*."), rationale
    quoted = text if len(text) <= _MAX_QUOTED else text[:_MAX_QUOTED] + "…"
    raise JudgeAnswerError(f"The judge's answer has no verdict: {quoted!r}")
