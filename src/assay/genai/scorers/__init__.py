"""Scorers for evaluation, as MLflow's ``mlflow.genai.scorers``: ``@scorer`` and
:class:`Scorer` for one's own, LLM judges of the usual qualities, and deterministic checks.

::

    from assay.genai.scorers import Correctness, Guidelines, scorer

    @scorer
    def mentions_assay(outputs) -> bool:
        return "Assay" in str(outputs)

    Correctness()(inputs={"question": "..."}, outputs="...",
                  expectations={"expected_response": "..."})  # a Feedback, "yes" or "no"
"""

from __future__ import annotations

from assay.genai.scorers.builtin import (
    Completeness,
    Correctness,
    Equivalence,
    ExactMatch,
    ExpectationsGuidelines,
    Fluency,
    Guidelines,
    RegexMatch,
    RelevanceToQuery,
    ResponseLength,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
    ToolCallCorrectness,
    ToolCallEfficiency,
    ValidJson,
    get_all_scorers,
)
from assay.genai.scoring import AGGREGATIONS, Scorer, ScorerInputs, scorer

__all__ = [
    "AGGREGATIONS",
    "Completeness",
    "Correctness",
    "Equivalence",
    "ExactMatch",
    "ExpectationsGuidelines",
    "Fluency",
    "Guidelines",
    "RegexMatch",
    "RelevanceToQuery",
    "ResponseLength",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "RetrievalSufficiency",
    "Safety",
    "Scorer",
    "ScorerInputs",
    "ToolCallCorrectness",
    "ToolCallEfficiency",
    "ValidJson",
    "get_all_scorers",
    "scorer",
]
