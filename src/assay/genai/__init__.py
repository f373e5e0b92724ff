"""Assay's GenAI quality tools, as MLflow's ``mlflow.genai``: label schemas and labeling
sessions for expert review, evaluation with scorers and LLM judges
(``assay.genai.scorers``, ``assay.genai.judges``), the comparison of two evaluation runs and
a judge's agreement with human labels.

``assay.genai.create_labeling_session(...)`` and ``from assay.genai.labeling import
create_labeling_session`` name the same function.
"""

from __future__ import annotations

from assay.genai import label_schemas, labeling
from assay.genai.comparison import EvaluationComparison, compare_evaluations
from assay.genai.evaluation import EvaluationResult, evaluate
from assay.genai.judge_agreement import JudgeAgreement, judge_agreement
from assay.genai.label_schemas import (
    create_label_schema,
    delete_label_schema,
    get_label_schema,
    list_label_schemas,
    update_label_schema,
)
from assay.genai.labeling import (
    LabelingSession,
    create_labeling_session,
    delete_labeling_session,
    get_gold_labels,
    get_labeling_session,
    get_labeling_sessions,
)

__all__ = [
    "EvaluationComparison",
    "EvaluationResult",
    "JudgeAgreement",
    "LabelingSession",
    "compare_evaluations",
    "create_label_schema",
    "create_labeling_session",
    "delete_label_schema",
    "delete_labeling_session",
    "evaluate",
    "get_gold_labels",
    "get_label_schema",
    "get_labeling_session",
    "get_labeling_sessions",
    "judge_agreement",
    "label_schemas",
    "labeling",
    "list_label_schemas",
    "update_label_schema",
]
