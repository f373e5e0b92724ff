"""Moving in and out: ``assay import mlflow`` copies an MLflow tracking store into Assay
(:mod:`.importer`, reading with :mod:`.mlflow_source` and :mod:`.mlflow_http`, translating
with :mod:`.convert`); ``assay export`` writes an experiment out as OTLP JSON and JSON
lines (:mod:`.export`). The commands are in :mod:`.commands`.

Nothing here is loaded by ``import assay``; the commands import what they use.
"""
