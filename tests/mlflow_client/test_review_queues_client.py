"""The stock mlflow client's ``mlflow.genai.review_queues`` (MLflow OSS 3.14+) against a live
``assay server``: every function of the module, checked against what Assay stored."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from assay.entities.review_queue import ReviewStatus
from mlflow_client.mlflow_venv import mlflow_env
from server.live import Served

pytestmark = [pytest.mark.mlflow_client, pytest.mark.live_server, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).with_name("review_queues_client.py")


def test_mlflow_review_queues_are_assay_labeling_sessions(mlflow_python: Path,
                                                          served: Served) -> None:
    with tempfile.TemporaryDirectory(prefix="mlflow-client-") as folder:
        done = subprocess.run([str(mlflow_python), str(SCRIPT), served.url],
                              capture_output=True, text=True, env=mlflow_env(), timeout=240,
                              cwd=folder)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    report = json.loads(lines[-1].removeprefix("REPORT "))
    store = served.store
    ids = report["trace_ids"]

    queue = report["queue"]
    assert (queue["name"], queue["queue_type"], queue["users"]) == (
        "Escalations", "custom", ["ana"])
    stored = store.get_review_queue(queue["queue_id"])
    assert stored.experiment_id == queue["experiment_id"] == report["experiment_id"]
    # The queue is a labeling session whose items are the traces mlflow logged.
    session = store.get_labeling_session(stored.run_id)
    assert session.name == "Escalated" and session.assigned_users == ("ana", "ben")
    assert sorted(t.info.trace_id for t in store.search_traces(
        [report["experiment_id"]], run_id=stored.run_id)) == sorted(ids[:2])

    assert report["added"] == [{"item_id": i, "status": "pending", "completed_by": None,
                                "completed": False} for i in ids]
    assert report["done"] == {"item_id": ids[0], "status": "complete",
                              "completed_by": "ana", "completed": True}
    assert report["pending"] == [ids[2], ids[1]]
    assert report["pages"] == [[ids[2], ids[1]], True, [ids[0]], None]
    assert report["user_queue"] == {"name": "ben", "queue_type": "user", "users": ["ben"],
                                    "created_by": "ben"}
    assert report["listed"] == ["ben", "Escalations"]
    assert report["for_ana"] == [queue["queue_id"]]
    assert report["by_name"] == queue["queue_id"] and report["by_id"] == "Escalations"
    assert report["updated"] == {"name": "Escalated", "users": ["ana", "ben"]}
    assert report["reopened"] == {"item_id": ids[0], "status": "pending",
                                  "completed_by": None, "completed": False}
    assert report["after_remove"] == [ids[1], ids[0]]
    assert report["refused"]["code"] == "INVALID_PARAMETER_VALUE"
    assert "completed_by" in report["refused"]["message"]
    assert report["after_delete"] == ["Escalated"]
    items = store.list_review_queue_items(queue["queue_id"])
    assert {i.status for i in items} == {ReviewStatus.PENDING}
