"""Labeling through mlflow itself: the stock client's ``mlflow.genai.labeling`` against a
live ``assay server``, through the labeling store Assay declares in the entry-point group
``mlflow.labeling_store`` (``assay.mlflow_plugin``, installed into the mlflow venv from this
checkout); and, on the same server, mlflow's label schema, dataset and run-search calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlflow_client.conftest import run_stock_client
from mlflow_client.mlflow_venv import ensure_assay_installed
from server.live import Served

pytestmark = [pytest.mark.mlflow_client, pytest.mark.live_server, pytest.mark.timeout(900)]


@pytest.fixture
def mlflow_with_plugin(mlflow_python: Path) -> Path:
    """The mlflow venv's python with this checkout of Assay installed in it."""
    problem = ensure_assay_installed(mlflow_python)
    if problem:
        reason = f"could not install Assay into the mlflow venv: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return mlflow_python


def test_mlflow_labeling_sessions_schemas_and_datasets_live_in_assay(
        mlflow_with_plugin: Path, served: Served) -> None:
    report = run_stock_client(mlflow_with_plugin, served.url, "labeling").report
    store = served.store
    experiment_id = report["experiment_id"]

    # Label schemas, through mlflow's REST calls.
    schemas = report["schemas"]
    stored = store.get_label_schema(schema_id=schemas["created"]["schema_id"])
    assert (stored.name, stored.type.value, stored.experiment_id) == (
        "accuracy", "feedback", experiment_id)
    assert schemas["created"]["options"] == ["right", "wrong"]
    assert schemas["by_id"] == "accuracy"
    assert schemas["by_name"] == stored.schema_id
    assert schemas["listed"] == ["accuracy", "expected_response"]
    assert schemas["updated_instruction"] == stored.instruction == "Is it right?"

    # The labeling session, through the plugin: an Assay session with its items.
    session = report["session"]
    run_id = session["run_id"]
    info = store.get_labeling_session(run_id)
    assert (info.name, info.experiment_id) == ("review", experiment_id)
    assert session["assigned_users"] == list(info.assigned_users) == ["ana", "ben"]
    assert session["label_schemas"] == ["accuracy", "expected_response"]
    assert session["url"] == f"{served.url}/review/{run_id}"
    assert session["listed"] == [run_id]
    assert store.get_labeling_progress(run_id).items == 3
    for trace_id in session["trace_ids"]:
        assert store.get_labeling_item(run_id, trace_id).info.trace_id == trace_id
    # A refusal comes back as mlflow's exception with Assay's code and message.
    assert report["refused"]["code"] == "INVALID_PARAMETER_VALUE"
    assert "missing" in report["refused"]["message"]
    # Deleting a session through mlflow deletes it in Assay.
    assert report["before_delete"] == 2
    assert report["after_delete"] == [run_id]
    assert [s.run_id for s in store.list_labeling_sessions([experiment_id])] == [run_id]

    # The dataset: mlflow's records merged by their inputs.
    dataset = report["dataset"]
    info_d = store.get_dataset(dataset_id=dataset["dataset_id"])
    assert info_d.name == dataset["name"] == "golden"
    assert dict(info_d.tags)["team"] == dataset["tags"]["team"] == "qa"
    assert dataset["records"] == info_d.num_records == 4
    assert dataset["merged"] == [json.dumps({"expected_facts": ["self-hosted"],
                                             "expected_response": "A server"},
                                            sort_keys=True)]
    assert dataset["searched"] == ["golden"]

    # Runs searched with a filter; a metric's history.
    runs = report["runs"]
    assert runs["found"] == [runs["good"]]
    assert runs["history"] == [0.9]
