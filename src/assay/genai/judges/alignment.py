"""Aligning a judge with human labels (MLflow's ``judge.align(traces)``), by few-shot
examples.

The method, in order:

1. The traces with a human label of the judge's name (:func:`human_label`: today the newest
   HUMAN assessment; gold labels first once sessions record them) are split at random
   (seeded), label by label so that both parts keep the labels' mix, into a *learn* set
   and a *held-out* set (``holdout`` of them, at least one trace each).
2. The judge as it is judges the learn set. Examples are taken from it: mostly traces where
   it disagreed with the humans (three in four of ``max_examples``), the rest where it
   agreed, each group taken in turn across the human labels so that every label is shown.
3. The new judge's instructions are the old ones followed by the examples: each trace's
   inputs and outputs (and expectations, when the judge reads them) with the human verdict
   and the human's rationale. Braces in the examples are spaced out so that no example text
   is ever read as a ``{{ placeholder }}``.
4. Both judges judge the held-out set; the report gives each one's accuracy and Cohen's
   kappa there. No held-out trace is ever an example, so "after" is measured only on traces
   the new judge did not learn from.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import json
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay import _runtime
from assay.entities import Feedback, Trace
from assay.entities.assessment import AssessmentError
from assay.errors import AssayError, InvalidParameterError, mask_secrets
from assay.genai.judge_agreement import compare_labels, gold_labels_of, human_label
from assay.genai.scoring import row_fields
from assay.stats.agreement import compute_agreement

if TYPE_CHECKING:
    from assay.genai.judges.judge import InstructionsJudge

__all__ = ["AlignmentExample", "AlignmentReport", "AlignmentScore", "align_judge"]

#: Longest text of one field in an example; longer ones are cut, saying so.
EXAMPLE_FIELD_CHARS = 2_000
#: Judge calls at once while aligning.
ALIGN_WORKERS = 10
#: Where the examples start in the aligned judge's instructions.
EXAMPLES_HEADING = ("Examples that human reviewers judged. Judge as they did: the verdict and "
                    "the reason in each example are theirs.")


@dataclass(frozen=True)
class AlignmentExample:
    """A learn-set trace shown to the aligned judge."""

    trace_id: str
    human_value: Any
    judge_value: Any  # what the judge said before aligning
    agreed: bool


@dataclass(frozen=True)
class AlignmentScore:
    """A judge's agreement with the human labels of the held-out traces."""

    n: int  # held-out traces the judge gave a verdict on
    accuracy: float | None
    cohen_kappa: float | None
    errors: int  # held-out traces where the judge's call failed


@dataclass(frozen=True)
class AlignmentReport:
    """What ``Judge.align`` did: the split, the examples, and the agreement on the
    held-out traces before and after."""

    seed: int
    learn_trace_ids: tuple[str, ...]
    holdout_trace_ids: tuple[str, ...]
    examples: tuple[AlignmentExample, ...]
    learn_disagreements: int
    before: AlignmentScore
    after: AlignmentScore
    without_human_label: int

    def __str__(self) -> str:
        def line(label: str, score: AlignmentScore) -> str:
            accuracy = "undefined" if score.accuracy is None else f"{score.accuracy:.3f}"
            kappa = "undefined" if score.cohen_kappa is None else f"{score.cohen_kappa:.3f}"
            return (f"{label}: accuracy {accuracy}, Cohen's kappa {kappa} "
                    f"({score.n} traces, {score.errors} errors)")

        disagreeing = sum(not e.agreed for e in self.examples)
        return "\n".join([
            f"Aligned on {len(self.learn_trace_ids)} traces ({self.learn_disagreements} "
            f"disagreements), measured on {len(self.holdout_trace_ids)} held out (seed "
            f"{self.seed})",
            f"{len(self.examples)} examples ({disagreeing} where the judge disagreed)",
            line("Before", self.before),
            line("After ", self.after),
        ])


def align_judge(judge: InstructionsJudge, traces: Any, *, holdout: float = 0.3,
                seed: int = 0, max_examples: int = 8) -> InstructionsJudge:
    """A copy of ``judge`` with examples from human labels in its instructions; its
    ``alignment`` is the :class:`AlignmentReport`. See the module docstring."""
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) \
            or not 0 < holdout < 1:
        raise InvalidParameterError(
            f"Invalid holdout {holdout!r}: expected the share of traces held out, between 0 "
            "and 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidParameterError(f"Invalid seed {seed!r}: expected an integer")
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) \
            or not 1 <= max_examples <= 100:
        raise InvalidParameterError(
            f"Invalid max_examples {max_examples!r}: expected 1 to 100")
    given = _traces(traces)
    labeled: list[tuple[Trace, Any, str | None]] = []
    gold = gold_labels_of(_runtime.runtime().readable_store(), given)
    for trace in given:
        human = human_label(trace, judge.name, gold)
        if human is not None:
            labeled.append((trace, human.value, human.rationale))
    if len(labeled) < 2:
        raise InvalidParameterError(
            f"Aligning judge {judge.name!r} needs at least two traces with a human label "
            f"{judge.name!r}; {len(labeled)} of the {len(given)} given have one")
    rng = random.Random(seed)
    learn, held = _split(labeled, holdout, rng)

    verdicts = _judge_all(judge, [t for t, _, _ in learn])
    usable = [(row, v) for row, v in zip(learn, verdicts, strict=True)
              if v is not None and v.error is None]
    failed = [v for v in verdicts if v is not None and v.error is not None]
    if not usable and failed:
        raise AssayError(f"Judge {judge.name!r} failed on all {len(failed)} traces it "
                         f"learns from; the first: {failed[0].error_message}")
    judged, humans = compare_labels([v.value for _, v in usable],
                                    [human for (_, human, _), _ in usable])
    agreeing = [(row, v) for (row, v), j, h in zip(usable, judged, humans, strict=True)
                if j == h]
    disagreeing = [(row, v) for (row, v), j, h in zip(usable, judged, humans, strict=True)
                   if j != h]
    wanted_disagreements = max(1, (3 * max_examples) // 4) if max_examples > 1 else 1
    chosen = _in_turn(disagreeing, wanted_disagreements, rng)
    chosen += _in_turn(agreeing, max_examples - len(chosen), rng)
    agreed = {id(v) for _, v in agreeing}
    examples = tuple(AlignmentExample(row[0].info.trace_id, row[1], v.value, id(v) in agreed)
                     for row, v in chosen)

    aligned = copy.copy(judge)
    aligned.instructions = judge.instructions + "\n\n" + _examples_text(judge, chosen)
    before = _score(judge, held)
    after = _score(aligned, held)
    aligned.alignment = AlignmentReport(
        seed=seed, learn_trace_ids=tuple(t.info.trace_id for t, _, _ in learn),
        holdout_trace_ids=tuple(t.info.trace_id for t, _, _ in held), examples=examples,
        learn_disagreements=len(disagreeing), before=before, after=after,
        without_human_label=len(given) - len(labeled))
    return aligned


def _traces(traces: Any) -> list[Trace]:
    """A list of Trace, or a search_traces DataFrame (its ``trace`` column)."""
    module = type(traces).__module__
    if module.startswith("pandas") and type(traces).__name__ == "DataFrame":
        if "trace" not in traces.columns:
            raise InvalidParameterError(
                "Invalid traces: a DataFrame must be search_traces' (with a trace column)")
        traces = [Trace.from_json(t) if isinstance(t, str) else t for t in traces["trace"]]
    if not isinstance(traces, (list, tuple)) or not all(isinstance(t, Trace) for t in traces):
        raise InvalidParameterError(
            "Invalid traces: expected a list of Trace or a search_traces DataFrame")
    return list(traces)


Row = tuple[Trace, Any, str | None]  # a trace, its human label's value and rationale


def _split(labeled: list[Row], holdout: float,
           rng: random.Random) -> tuple[list[Row], list[Row]]:
    """Learn and held-out sets, label by label, each with at least one trace."""
    _, humans = compare_labels([], [value for _, value, _ in labeled])
    groups: dict[Hashable, list[Row]] = {}
    for row, key in zip(labeled, humans, strict=True):
        groups.setdefault(key, []).append(row)
    learn: list[Row] = []
    held: list[Row] = []
    for key in sorted(groups, key=repr):
        rows = groups[key]
        rng.shuffle(rows)
        cut = round(len(rows) * holdout)
        held += rows[:cut]
        learn += rows[cut:]
    if not held:
        held.append(learn.pop(rng.randrange(len(learn))))
    if not learn:
        learn.append(held.pop(rng.randrange(len(held))))
    return learn, held


def _in_turn(pool: list[tuple[Row, Feedback]], count: int,
             rng: random.Random) -> list[tuple[Row, Feedback]]:
    """Up to ``count`` of ``pool`` at random, one human label after another."""
    if count <= 0 or not pool:
        return []
    _, humans = compare_labels([], [row[1] for row, _ in pool])
    groups: dict[Hashable, list[tuple[Row, Feedback]]] = {}
    for item, key in zip(pool, humans, strict=True):
        groups.setdefault(key, []).append(item)
    queues = [groups[key] for key in sorted(groups, key=repr)]
    for queue in queues:
        rng.shuffle(queue)
    chosen: list[tuple[Row, Feedback]] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop())
    return chosen


def _judge_all(judge: InstructionsJudge, traces: Sequence[Trace]) -> list[Feedback | None]:
    """The judge's Feedback on each trace: None where the row lacks what it reads, a
    Feedback with an error where the call failed (a model down, out of retries)."""

    def one(trace: Trace) -> Feedback | None:
        try:
            return judge(trace=trace)
        except InvalidParameterError:
            return None
        except Exception as exc:  # one failed call leaves that trace out, as in evaluate
            message = mask_secrets(f"{type(exc).__name__}: {exc}")
            return Feedback(name=judge.name, source=judge.source, error=AssessmentError(
                error_code="SCORER_ERROR", error_message=message))

    if not traces:
        return []
    with cf.ThreadPoolExecutor(max_workers=min(ALIGN_WORKERS, len(traces)),
                               thread_name_prefix="assay-align") as pool:
        return list(pool.map(one, traces))


def _score(judge: InstructionsJudge, rows: list[Row]) -> AlignmentScore:
    verdicts = _judge_all(judge, [t for t, _, _ in rows])
    pairs = [(v.value, human) for (_, human, _), v in zip(rows, verdicts, strict=True)
             if v is not None and v.error is None]
    errors = len(rows) - len(pairs)
    if not pairs:
        return AlignmentScore(0, None, None, errors)
    judged, humans = compare_labels([j for j, _ in pairs], [h for _, h in pairs])
    agreed = sum(j == h for j, h in zip(judged, humans, strict=True))
    kappa = compute_agreement({i: {"judge": j, "human": h} for i, (j, h) in
                               enumerate(zip(judged, humans, strict=True))}).cohen_kappa
    return AlignmentScore(len(pairs), agreed / len(pairs), kappa, errors)


def _examples_text(judge: InstructionsJudge, chosen: list[tuple[Row, Feedback]]) -> str:
    parts = [EXAMPLES_HEADING]
    for (trace, human, rationale), _ in chosen:
        fields = row_fields(trace=trace)
        lines = ["<example>"]
        shown = [("inputs", fields.inputs), ("outputs", fields.outputs)]
        if "expectations" in judge.fields and fields.expectations:
            shown.append(("expectations", fields.expectations))
        for name, value in shown:
            lines += [f"<example_{name}>", _field(value), f"</example_{name}>"]
        lines += ["<human_verdict>", _verdict(judge, human), "</human_verdict>"]
        if rationale:
            lines += ["<human_reason>", _field(rationale), "</human_reason>"]
        lines.append("</example>")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    if len(text) > EXAMPLE_FIELD_CHARS:
        text = text[:EXAMPLE_FIELD_CHARS] + f" [… {len(text) - EXAMPLE_FIELD_CHARS} more]"
    # A spaced brace is never a placeholder: the example stays text.
    return text.replace("{{", "{ {").replace("}}", "} }")


def _verdict(judge: InstructionsJudge, human: Any) -> str:
    """The human's value as the judge answers: "yes"/"no" for a Pass/Fail label of a yes/no
    judge, else its JSON."""
    verdict = compare_labels([], [human])[1][0]
    if isinstance(verdict, bool) and judge.value_type is None:
        return "yes" if verdict else "no"
    return _field(human)
