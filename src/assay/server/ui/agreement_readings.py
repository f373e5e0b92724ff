"""Agreement figures in plain words: each statistic's name, its value and what it means.

Kappas are read with Landis & Koch's (1977) bands; Krippendorff's alpha with his own
thresholds (0.800 to rely on the data, 0.667 for tentative conclusions); the percent and
specific agreements as shares. Few items make any figure unreliable, and the card says so.
"""

from __future__ import annotations

from typing import Any

from assay.entities.label_schema import InputPassFail, LabelSchema
from assay.stats.agreement import Agreement, Level

__all__ = ["FEW_ITEMS", "TOO_FEW_ITEMS", "agreement_card", "kappa_reading"]

#: Below this many items an agreement figure means little; below FEW_ITEMS, read it with care.
TOO_FEW_ITEMS = 10
FEW_ITEMS = 30

_BANDS = ((0.0, "poor agreement (below 0)"), (0.20, "slight agreement (0.00\u20130.20)"),
          (0.40, "fair agreement (0.21\u20130.40)"), (0.60, "moderate agreement (0.41\u20130.60)"),
          (0.80, "substantial agreement (0.61\u20130.80)"))


def kappa_reading(value: float) -> str:
    """A kappa in Landis & Koch's words, with its band."""
    if value < 0:
        return "poor agreement (below 0): worse than chance"
    for top, words in _BANDS[1:]:
        if value <= top:
            return words
    return "almost perfect agreement (0.81\u20131.00)"


def _alpha_reading(value: float) -> str:
    if value >= 0.8:
        return "reliable (0.800 or more)"
    if value >= 0.667:
        return "tentative conclusions only (0.667\u20130.800)"
    if value < 0:
        return "unreliable: below chance"
    return "unreliable (below 0.667)"


def agreement_card(agreement: Agreement | None, level: Level,
                   schema: LabelSchema | None) -> dict[str, Any]:
    """One question's agreement for the session page: ``stats`` (each ``key``, ``name``,
    ``value``, ``shown``, ``reading``) and a ``note`` on how far to trust them."""
    if agreement is None:
        return {"n_items": 0, "n_reviewers": 0, "level": level, "stats": [],
                "note": "No answers yet."}
    if agreement.excluded_reason:
        return {"n_items": agreement.n_items, "n_reviewers": agreement.n_reviewers,
                "level": level, "stats": [],
                "note": f"Free-text answers: {agreement.n_items:,} items have two answers "
                        "or more; their agreement is not measured (read the disagreements "
                        "below)."}
    stats: list[dict[str, Any]] = []

    def add(key: str, name: str, value: float | None, reading: str) -> None:
        if value is not None:
            stats.append({"key": key, "name": name, "value": value,
                          "shown": f"{value:.3f}" if key != "percent_agreement"
                          else f"{value * 100:.1f}%", "reading": reading})

    p = agreement.percent_agreement
    if p is not None:
        add("percent_agreement", "Percent agreement", p,
            "pairs of answers that are equal (not corrected for chance)")
    if agreement.cohen_kappa is not None:
        add("cohen_kappa", "Cohen's kappa", agreement.cohen_kappa,
            kappa_reading(agreement.cohen_kappa))
    if agreement.fleiss_kappa is not None:
        add("fleiss_kappa", "Fleiss' kappa", agreement.fleiss_kappa,
            kappa_reading(agreement.fleiss_kappa))
    alpha = agreement.krippendorff_alpha
    if alpha is not None:
        add("krippendorff_alpha", "Krippendorff's alpha", alpha,
            _alpha_reading(alpha) + (" \u00b7 numbers compared by distance"
                                     if level == "interval" else ""))
    labels = (schema.input if schema is not None and isinstance(schema.input, InputPassFail)
              else InputPassFail())
    if agreement.positive_agreement is not None:
        add("positive_agreement", f"Positive agreement ({labels.positive_label})",
            agreement.positive_agreement,
            f"chance that a second reviewer also says {labels.positive_label!r}")
    if agreement.negative_agreement is not None:
        add("negative_agreement", f"Negative agreement ({labels.negative_label})",
            agreement.negative_agreement,
            f"chance that a second reviewer also says {labels.negative_label!r}")
    n = agreement.n_items
    if n == 0:
        note = "No item has two answers yet: agreement needs at least two reviewers per item."
    elif n < TOO_FEW_ITEMS:
        note = (f"Only {n} item{'' if n == 1 else 's'} with two answers or more: too few "
                "to mean much.")
    elif n < FEW_ITEMS:
        note = f"{n} items with two answers or more: few; read the figures with care."
    else:
        note = f"{n:,} items with two answers or more."
    if n and p is not None and p == 1 and agreement.fleiss_kappa is None:
        note += " Every answer is the same, so chance-corrected figures are undefined."
    return {"n_items": n, "n_reviewers": agreement.n_reviewers, "level": level,
            "stats": stats, "note": note}
