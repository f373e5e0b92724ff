"""Which MLflow store a tracking URI names, opened as a source of ``assay import mlflow``:
a database read directly (:mod:`assay.migration.mlflow_source`) or a server read through
its REST protocol (:mod:`assay.migration.mlflow_http`)."""

from __future__ import annotations

import os

from assay.errors import InvalidParameterError
from assay.migration.mlflow_http import HttpSource
from assay.migration.mlflow_source import DatabaseSource, Source

__all__ = ["open_source"]


def open_source(uri: str) -> Source:
    """The MLflow store a tracking URI names: ``http(s)://`` a server; ``sqlite:///``,
    ``postgresql://``, ``mysql://`` a database; a path to an existing file, a SQLite
    database. InvalidParameterError for anything else."""
    if uri.startswith(("http://", "https://")):
        return HttpSource(uri)
    if "://" not in uri:
        if not os.path.isfile(uri):
            raise InvalidParameterError(
                f"Invalid --from {uri!r}: no such file; give an MLflow tracking URI "
                "(sqlite:///mlflow.db, postgresql://..., http://host:5000) or the path of "
                "an MLflow SQLite database")
        uri = "sqlite:///" + os.path.abspath(uri)
    if uri.startswith("file:"):
        raise InvalidParameterError(
            f"Invalid --from {uri!r}: MLflow's file store (mlruns/) is not read; serve it "
            "with 'mlflow server' and import from its http:// address")
    if not uri.startswith(("sqlite:", "postgresql", "postgres:", "mysql")):
        raise InvalidParameterError(
            f"Invalid --from {uri!r}: expected an MLflow tracking URI: sqlite:///<file>, "
            "postgresql://..., mysql://..., or http(s)://<mlflow server>")
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        path = uri.removeprefix("sqlite:///").split("?", 1)[0]
        if not os.path.isfile(path):
            raise InvalidParameterError(f"Invalid --from {uri!r}: no such file {path!r}")
    return DatabaseSource(uri)
