"""Run by the stock mlflow client's python (its own virtual environment), never imported by
the tests: ``mlflow.genai.review_queues`` (MLflow OSS 3.14+) against the server at
``argv[1]``. It traces three answers, works a review queue through every function of the
module, and prints what mlflow read back as one JSON object after ``REPORT``, which the test
compares with what Assay stored.
"""

import json
import sys
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.genai import review_queues as rq


def item(found: Any) -> dict[str, Any]:
    return {"item_id": found.item_id, "status": str(found.status),
            "completed_by": found.completed_by,
            "completed": found.completed_time_ms is not None}


def main(url: str) -> None:
    mlflow.set_tracking_uri(url)
    experiment_id = mlflow.set_experiment("review-queues").experiment_id
    trace_ids = []
    for number in range(3):
        with mlflow.start_span(name="chat") as span:
            span.set_inputs({"question": f"question {number}"})
            span.set_outputs(f"answer {number}")
            trace_ids.append(span.trace_id)
    mlflow.flush_trace_async_logging()

    queue = rq.create_review_queue("Escalations", queue_type="custom", users=["Ana"])
    added = rq.add_items_to_review_queue(queue.queue_id, item_ids=trace_ids)
    done = rq.set_review_queue_item_status(queue.queue_id, item_id=trace_ids[0],
                                           status="complete", completed_by="ana")
    pending = rq.list_review_queue_items(queue.queue_id, status="pending")
    first_page = rq.list_review_queue_items(queue.queue_id, max_results=2)
    second_page = rq.list_review_queue_items(queue.queue_id, max_results=2,
                                             page_token=first_page.token)
    user_queue = rq.get_or_create_user_queue("Ben")
    listed = rq.list_review_queues()
    for_ana = rq.list_review_queues(user="ana")
    by_name = rq.get_review_queue(name="escalations")
    by_id = rq.get_review_queue(queue.queue_id)
    updated = rq.update_review_queue(queue.queue_id, name="Escalated", users=["ana", "ben"])
    reopened = rq.set_review_queue_item_status(queue.queue_id, item_id=trace_ids[0],
                                               status="pending")
    rq.remove_items_from_review_queue(queue.queue_id, item_ids=[trace_ids[2]])
    after_remove = rq.list_review_queue_items(queue.queue_id)
    try:
        rq.set_review_queue_item_status(queue.queue_id, item_id=trace_ids[1],
                                        status="declined")
        refused: dict[str, Any] = {}
    except MlflowException as exc:
        refused = {"code": exc.error_code, "message": exc.message}
    rq.delete_review_queue(user_queue.queue_id)
    print("REPORT " + json.dumps({
        "experiment_id": experiment_id, "trace_ids": trace_ids,
        "queue": {"queue_id": queue.queue_id, "name": queue.name,
                  "queue_type": str(queue.queue_type), "users": queue.users,
                  "experiment_id": queue.experiment_id},
        "added": [item(found) for found in added],
        "done": item(done),
        "pending": [found.item_id for found in pending],
        "pages": [[found.item_id for found in first_page], first_page.token is not None,
                  [found.item_id for found in second_page], second_page.token],
        "user_queue": {"name": user_queue.name, "queue_type": str(user_queue.queue_type),
                       "users": user_queue.users, "created_by": user_queue.created_by},
        "listed": [found.name for found in listed],
        "for_ana": [found.queue_id for found in for_ana],
        "by_name": by_name.queue_id, "by_id": by_id.name,
        "updated": {"name": updated.name, "users": updated.users},
        "reopened": item(reopened),
        "after_remove": [found.item_id for found in after_remove],
        "refused": refused,
        "after_delete": [found.name for found in rq.list_review_queues()],
    }))


if __name__ == "__main__":
    main(sys.argv[1])
