"""Agreement statistics of a labeling session: Assay's pure-Python module vs reference libraries.

Builds one session of ``--items`` items (default 100,000) answered by 3 reviewers, for three
questions, seeded: a category among 4, pass/fail, and a rating 1-5. Each reviewer gives the
item's "true" answer with probability 0.8, else a random one (a rating off by one, else at
random); ``--missing`` leaves that share of answers out. Then, with the cases taking turns
within each of ``--reps`` passes so that the load of a shared machine weighs on them alike,
it times:

* Assay: ``compute_agreement`` (nominal for the category and pass/fail, interval for the
  rating: every statistic at once) and ``list_disagreements``, from the
  ``item -> reviewer -> answer`` mappings the session holds;
* the reference libraries (test dependencies): ``krippendorff.alpha`` (numpy) on a ready
  reviewers x items matrix, and ``statsmodels``' ``aggregate_raters`` + ``fleiss_kappa`` on
  a ready items x reviewers matrix; and the same with the conversion from the mappings to
  the matrix counted (numeric codes for the categories).

It prints the median and range of each case, and the figures both sides computed (they
must agree). Target: Assay's ``compute_agreement`` under 1 s for 100,000 x 3.

Usage::

    .venv/bin/python benchmarks/agreement.py
    .venv/bin/python benchmarks/agreement.py --items 20000 --reps 3 --missing 0.1
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from assay.stats.agreement import Level, compute_agreement, list_disagreements

REVIEWERS = ("alice", "bob", "carol")
CATEGORIES = ("correct", "partly", "wrong", "off-topic")
Answers = dict[str, dict[str, Hashable]]


def make_session(n_items: int, missing: float, seed: int) -> dict[str, Answers]:
    """The three questions' answers: ``question -> item -> reviewer -> answer``."""
    rng = random.Random(seed)
    category: Answers = {}
    passed: Answers = {}
    rating: Answers = {}
    for index in range(n_items):
        item = f"trace-{index:07d}"
        true_category, true_pass, true_rating = (rng.choice(CATEGORIES), rng.random() < 0.7,
                                                 rng.randint(1, 5))
        category[item], passed[item], rating[item] = {}, {}, {}
        for reviewer in REVIEWERS:
            if rng.random() < missing:
                continue
            right = rng.random() < 0.8
            category[item][reviewer] = true_category if right else rng.choice(CATEGORIES)
            passed[item][reviewer] = true_pass if right else rng.random() < 0.5
            near = min(5, max(1, true_rating + rng.choice((-1, 1))))
            rating[item][reviewer] = (true_rating if right
                                      else near if rng.random() < 0.5 else rng.randint(1, 5))
    return {"category": category, "pass/fail": passed, "rating": rating}


def to_matrix(answers: Mapping[str, Mapping[str, Hashable]],
              codes: Mapping[Hashable, float] | None) -> Any:
    """Reviewers x items, NaN where a reviewer did not answer (the references' input)."""
    import numpy as np

    def code(value: Hashable) -> float:
        return codes[value] if codes is not None else float(value)  # type: ignore[arg-type]

    return np.array([[code(item[r]) if r in item else np.nan for item in answers.values()]
                     for r in REVIEWERS])


def reference_cases(session: dict[str, Answers]) -> dict[str, Callable[[], float]]:
    """The reference libraries' cases, or none when they are not installed."""
    try:
        import krippendorff
        import numpy as np
        from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
    except ImportError as error:
        print(f"reference libraries not installed ({error.name}): Assay alone")
        return {}
    category_codes: dict[Hashable, float] = {c: float(i) for i, c in enumerate(CATEGORIES)}
    bool_codes: dict[Hashable, float] = {False: 0.0, True: 1.0}
    codes = {"category": category_codes, "pass/fail": bool_codes, "rating": None}
    levels = {"category": "nominal", "pass/fail": "nominal", "rating": "interval"}
    ready = {name: to_matrix(session[name], codes[name]) for name in session}
    cases: dict[str, Callable[[], float]] = {}
    for name in session:
        def alpha(name: str = name) -> float:
            return float(krippendorff.alpha(reliability_data=ready[name],
                                            level_of_measurement=levels[name]))

        def alpha_converted(name: str = name) -> float:
            matrix = to_matrix(session[name], codes[name])
            return float(krippendorff.alpha(reliability_data=matrix,
                                            level_of_measurement=levels[name]))

        cases[f"krippendorff.alpha, {name}"] = alpha
        cases[f"krippendorff.alpha, {name}, with conversion"] = alpha_converted
    complete = not any(np.isnan(matrix).any() for matrix in ready.values())
    if complete:  # fleiss_kappa needs every item rated by everyone
        def fleiss() -> float:
            table, _ = aggregate_raters(ready["category"].T.astype(int))
            return float(fleiss_kappa(table))

        cases["statsmodels fleiss_kappa, category"] = fleiss
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000,
                        help="items in the session (default: %(default)s)")
    parser.add_argument("--missing", type=float, default=0.0,
                        help="share of answers left out (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=5, help="passes (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=14, help="(default: %(default)s)")
    args = parser.parse_args()

    session = make_session(args.items, args.missing, args.seed)
    levels: dict[str, Level] = {"category": "nominal", "pass/fail": "nominal",
                                "rating": "interval"}
    figures: dict[str, Any] = {}
    cases: dict[str, Callable[[], Any]] = {}
    for name, answers in session.items():
        def assay_case(answers: Answers = answers, level: Level = levels[name]) -> Any:
            return compute_agreement(answers, level)

        cases[f"assay compute_agreement, {name} ({levels[name]})"] = assay_case
    cases["assay list_disagreements, category"] = lambda: list_disagreements(session["category"])
    cases.update(reference_cases(session))

    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(args.reps):
        for case, run in cases.items():
            start = time.perf_counter()
            figures[case] = run()
            times[case].append(time.perf_counter() - start)

    print(f"{args.items:,} items x {len(REVIEWERS)} reviewers, {args.missing:.0%} missing, "
          f"{args.reps} passes; seconds, median (min-max)")
    width = max(map(len, cases))
    for case, samples in times.items():
        print(f"  {case:<{width}}  {statistics.median(samples):7.3f} "
              f"({min(samples):.3f}-{max(samples):.3f})")
    print("figures:")
    for name in session:
        ours = figures[f"assay compute_agreement, {name} ({levels[name]})"]
        print(f"  {name}: percent {ours.percent_agreement:.4f}, fleiss {ours.fleiss_kappa:.6f}, "
              f"alpha {ours.krippendorff_alpha:.6f}"
              + (f", positive {ours.positive_agreement:.4f}, "
                 f"negative {ours.negative_agreement:.4f}"
                 if ours.positive_agreement is not None else ""))
        reference = figures.get(f"krippendorff.alpha, {name}")
        if reference is not None:
            print(f"    krippendorff.alpha {reference:.6f}")
        reference = figures.get(f"statsmodels fleiss_kappa, {name}")
        if reference is not None:
            print(f"    statsmodels fleiss_kappa {reference:.6f}")
    disagreements = figures["assay list_disagreements, category"]
    print(f"  category: {len(disagreements):,} items with differing answers")


if __name__ == "__main__":
    main()
