"""The Assay side of ``evaluation.py``: ``assay.genai.evaluate`` with ``Correctness``.

Runs with the project venv's interpreter (``src/`` first on ``PYTHONPATH``, so it measures
the working tree) in a fresh temporary working directory, so the default
``sqlite:///assay.db`` there is a new file. The judge is ``openai:/gpt-4.1-mini`` at
``OPENAI_BASE_URL`` (the benchmark's judge server). ``--max-workers`` and
``--scorer-workers`` are evaluate's (default 10 and 10, its defaults).

Profile the timed call (the calling thread): ``python benchmarks/_assay_evaluation.py
--profile /tmp/eval.prof`` with ``OPENAI_BASE_URL`` set (see ``_eval_common.py``).
"""

from __future__ import annotations

import sys
from typing import Any

from _eval_common import EXPERIMENT, answer, main

import assay
from assay.genai import evaluate
from assay.genai.scorers import Correctness

TRACKING_URI = "sqlite:///assay.db"
MODEL = "openai:/gpt-4.1-mini"


class Outcome:
    def __init__(self, values: list[Any], errors: int) -> None:
        self.values = values
        self.errors = errors


class AssaySide:
    name = "assay"

    def __init__(self, max_workers: int, scorer_workers: int) -> None:
        self.version: str = getattr(assay, "__version__", "unknown")
        assay.set_tracking_uri(TRACKING_URI)
        assay.set_experiment(EXPERIMENT)
        self.max_workers = max_workers
        self.scorer_workers = scorer_workers
        self.app = assay.trace(answer)

    def evaluate(self, rows: list[dict[str, Any]], predict: bool) -> Outcome:
        result = evaluate(data=rows, scorers=[Correctness(model=MODEL)],
                          predict_fn=self.app if predict else None,
                          max_workers=self.max_workers, scorer_workers=self.scorer_workers,
                          progress=False)
        values = [f.value for r in result.rows for f in r.feedback]
        errors = sum(f.error is not None for r in result.rows for f in r.feedback)
        return Outcome(values, errors)


def _pop_int(argv: list[str], flag: str, default: int) -> int:
    if flag in argv:
        at = argv.index(flag)
        value = int(argv[at + 1])
        del argv[at:at + 2]
        return value
    return default


if __name__ == "__main__":
    argv = sys.argv[1:]
    workers = _pop_int(argv, "--max-workers", 10)
    scorer_workers = _pop_int(argv, "--scorer-workers", 10)
    main(lambda: AssaySide(workers, scorer_workers), argv)
