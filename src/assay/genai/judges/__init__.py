"""LLM judges, as MLflow's ``mlflow.genai.judges``: :func:`make_judge` for one's own, and the
model they call (``openai:/<model>``, any OpenAI-compatible endpoint)."""

from __future__ import annotations

from assay.genai.judges.judge import Judge, make_judge
from assay.genai.judges.models import (
    DEFAULT_JUDGE_MODEL,
    JudgeAnswerError,
    JudgeModel,
    default_judge_model,
)

__all__ = [
    "DEFAULT_JUDGE_MODEL",
    "Judge",
    "JudgeAnswerError",
    "JudgeModel",
    "default_judge_model",
    "make_judge",
]
