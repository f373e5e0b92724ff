"""MLflow's REST protocol, as the stock ``mlflow`` client uses it, over Assay's store and
rules: point ``MLFLOW_TRACKING_URI`` at an Assay server and an MLflow app keeps working.

Every route is served under ``/api/2.0/mlflow`` or ``/api/3.0/mlflow`` (as MLflow has it)
and mirrored under ``/ajax-api/``. The routes parse MLflow's messages, call the same store
and domain functions as Assay's own API (``/api/v1``), and answer MLflow's JSON; errors are
``{error_code, message}`` from :mod:`assay.server.errors` with MLflow's status codes. They
are left out of Assay's OpenAPI document: MLflow's protocol is MLflow's to describe.
"""

from __future__ import annotations

from assay.server.mlflow_compat import (
    assessments,
    datasets,
    experiments,
    label_schemas,
    review_queues,
    runs,
    traces,
)
from assay.server.route_tables import RouteTable
from assay.version import __version__

__all__ = ["MLFLOW_CLIENT_PREFIX", "PROTOCOL_VERSION", "build_router", "version_for"]

#: The MLflow release whose protocol these routes follow.
PROTOCOL_VERSION = "3.17.2"
#: How the stock Python client says who it is (``User-Agent: mlflow-python-client/3.17.2``).
MLFLOW_CLIENT_PREFIX = "mlflow-python-client/"


def build_router() -> RouteTable:
    """Every MLflow route, under each version's prefix and its ``/ajax-api`` mirror."""
    router = RouteTable(include_in_schema=False)
    by_version = {"2.0": (experiments.v2, traces.v2, runs.v2),
                  "3.0": (traces.v3, assessments.v3, label_schemas.v3, review_queues.v3,
                          datasets.v3)}
    for root in ("/api", "/ajax-api"):
        for version, routers in by_version.items():
            for sub in routers:
                router.include_router(sub, prefix=f"{root}/{version}/mlflow")
    return router


def version_for(user_agent: str) -> str:
    """What ``GET /version`` answers: Assay's version, except to the stock mlflow client,
    which gets the MLflow version whose protocol Assay serves.

    The client sends spans by OTLP only to a server it reads as MLflow 3.4 or newer;
    otherwise it uploads them as artifacts, which Assay does not keep.
    """
    return PROTOCOL_VERSION if user_agent.startswith(MLFLOW_CLIENT_PREFIX) else __version__
