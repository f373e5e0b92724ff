"""The judge server every judge test talks to, with the real openai client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genai.judge_server import JudgeServer


@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    server = JudgeServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def judge(judge_server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> JudgeServer:
    """The judge server as this environment's OpenAI endpoint, its log emptied."""
    monkeypatch.setenv("OPENAI_BASE_URL", judge_server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ASSAY_GENAI_JUDGE_DEFAULT_MODEL", "openai:/judge")
    judge_server.requests.clear()
    return judge_server
