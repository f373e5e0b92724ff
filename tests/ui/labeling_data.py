"""A labeling session in which two reviewers disagree, for the owner's pages: the review
app's session (one question of every input kind, three items) with both reviewers' answers
given through the store."""

from __future__ import annotations

from dataclasses import dataclass

from assay.store.base import Store
from review.review_data import ALICE, BOB, ReviewData, seed_review


@dataclass(frozen=True)
class Disagreeing:
    """The review data, and the item on which ALICE and BOB disagree."""

    data: ReviewData
    disputed: str


def seed_disagreement(store: Store) -> Disagreeing:
    """Three items, both reviewers answer all of them: they agree on the first and the
    third, and disagree about the second's accuracy, helpfulness and rating."""
    data = seed_review(store, num_items=3)
    first, disputed, third = data.trace_ids
    agreed = {"response_accuracy": "Accurate", "helpful": True, "rating": 4,
              "issues": [], "expected_response": "Paris."}
    for reviewer in (ALICE, BOB):
        store.submit_labeling_answers(data.run_id, first, reviewer, agreed)
        store.submit_labeling_answers(data.run_id, third, reviewer,
                                      {**agreed, "helpful": False, "rating": 2})
    store.submit_labeling_answers(data.run_id, disputed, ALICE,
                                  {"response_accuracy": "Accurate", "helpful": True,
                                   "rating": 5, "issues": ["Tone"]})
    store.submit_labeling_answers(data.run_id, disputed, BOB,
                                  {"response_accuracy": "Inaccurate", "helpful": False,
                                   "rating": 2, "issues": ["Tone"]})
    return Disagreeing(data, disputed)
