"""The mlflow side of ``evaluation.py``: ``mlflow.genai.evaluate`` with ``Correctness``.

Runs with the interpreter of ``benchmarks/.venv-mlflow`` (mlflow is never installed in the
project venv) in a fresh temporary working directory, so ``sqlite:///mlflow.db`` there is a
new file. The judge is ``openai:/gpt-4.1-mini``, which mlflow 3.17 calls through its native
OpenAI provider at ``OPENAI_BASE_URL`` (the benchmark's judge server). Its concurrency comes
from its environment variables, which the parent sets per configuration
(``MLFLOW_GENAI_EVAL_MAX_WORKERS``, ``MLFLOW_GENAI_EVAL_PREDICT_RATE_LIMIT``, ...).
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from _eval_common import EXPERIMENT, answer, main
from mlflow.genai.scorers import Correctness

TRACKING_URI = "sqlite:///mlflow.db"
MODEL = "openai:/gpt-4.1-mini"


class Outcome:
    def __init__(self, values: list[Any], errors: int) -> None:
        self.values = values
        self.errors = errors


class MlflowSide:
    name = "mlflow"

    def __init__(self) -> None:
        self.version: str = mlflow.__version__
        mlflow.set_tracking_uri(TRACKING_URI)
        mlflow.set_experiment(EXPERIMENT)
        self.app = mlflow.trace(answer)
        # The progress bar and per-run summary go to stderr (a log file); keep warnings.
        logging.getLogger("mlflow").setLevel(logging.WARNING)

    def evaluate(self, rows: list[dict[str, Any]], predict: bool) -> Outcome:
        result = mlflow.genai.evaluate(data=rows, scorers=[Correctness(model=MODEL)],
                                       predict_fn=self.app if predict else None)
        frame = result.result_df
        values = [None] * len(rows) if frame is None or "correctness/value" not in frame \
            else list(frame["correctness/value"])
        errors = sum(v is None or v != v for v in values)  # None or NaN
        return Outcome(values, errors)


if __name__ == "__main__":
    main(MlflowSide)
