"""Evaluation datasets (MLflow's ``mlflow.genai.datasets``), with versions.

::

    dataset = create_dataset("golden_questions")
    dataset.merge_records([
        {"inputs": {"question": "What is MLflow?"},
         "expectations": {"expected_response": "An open source ML platform"}},
    ])
    dataset.merge_records(assay.search_traces(filter_string="tags.reviewed = 'yes'"))
    result = assay.genai.evaluate(data=dataset, predict_fn=my_app, scorers=[...])

Records are unique by their inputs: merging a record whose inputs are already there updates
it (its expectations and tags key by key, the newer value winning). Every change makes a
new version (1, 2, …; a new dataset is at version 0) that never changes afterwards:
``get_dataset(name, version=2)`` reads one again, and ``evaluate`` records the version it ran
on as the run's ``dataset_version`` param.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from assay import _runtime
from assay.entities import Trace
from assay.entities.dataset import MAX_RECORDS_PER_CHANGE, DatasetInfo, DatasetRecord
from assay.entities.label_schema import LabelSchemaType
from assay.errors import InvalidParameterError, NotFoundError
from assay.genai.scoring import row_fields
from assay.paging import PagedList
from assay.store.base import Store

if TYPE_CHECKING:
    import pandas

__all__ = [
    "EvaluationDataset",
    "create_dataset",
    "delete_dataset",
    "get_dataset",
    "search_datasets",
    "sync_labeling_session",
]

#: Records read from the store per call.
_PAGE = 1000


class EvaluationDataset:
    """A dataset at one version (the latest, unless one was asked for).

    ``merge_records`` and ``delete_records`` change the latest version and move this object
    to the version they make. ``records``, ``to_df()`` and ``to_evaluation_rows()`` read the
    object's version.
    """

    def __init__(self, info: DatasetInfo) -> None:
        self._info = info

    def __repr__(self) -> str:
        return (f"EvaluationDataset(name={self.name!r}, dataset_id={self.dataset_id!r}, "
                f"version={self.version}, num_records={self.num_records})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EvaluationDataset) and other._info == self._info

    def __hash__(self) -> int:
        return hash(self._info)

    # -- what the dataset is ---------------------------------------------------------------
    @property
    def dataset_id(self) -> str:
        return self._info.dataset_id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def version(self) -> int:
        """The version this object reads (0: no records were ever merged)."""
        return self._info.version

    @property
    def num_records(self) -> int:
        return self._info.num_records

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._info.tags)

    @property
    def experiment_ids(self) -> list[str]:
        return list(self._info.experiment_ids)

    @property
    def created_time(self) -> int:
        return self._info.created_time

    @property
    def last_update_time(self) -> int:
        """When this version was made (ms since the epoch)."""
        return self._info.last_update_time

    @property
    def created_by(self) -> str | None:
        return self._info.created_by

    @property
    def last_updated_by(self) -> str | None:
        return self._info.last_updated_by

    # -- records ---------------------------------------------------------------------------
    @property
    def records(self) -> list[DatasetRecord]:
        """The records of this version, in the order they were first added."""
        store = _runtime.runtime().store()
        found: list[DatasetRecord] = []
        token: str | None = None
        while True:
            page = store.list_dataset_records(self.dataset_id, self.version, _PAGE, token)
            found.extend(page)
            token = page.token
            if token is None:
                return found

    def merge_records(self, records: Any) -> EvaluationDataset:
        """Add or update records, in one new version; returns this dataset, now at it.

        ``records`` is a list of dicts (``inputs``, a dict, required; ``outputs``,
        ``expectations`` (a dict), ``tags``, ``source`` optional), a DataFrame of such
        columns, a ``search_traces`` DataFrame, or a list of Trace (inputs and outputs of
        the root span, the trace's valid expectations, source TRACE with the trace id).
        At most 10,000 records a call; all or nothing.
        """
        rt = _runtime.runtime()
        info = rt.readable_store().merge_dataset_records(self.dataset_id, _records(records))
        self._info = info
        return self

    def delete_records(self, record_ids: Sequence[str]) -> EvaluationDataset:
        """Remove records by id, in one new version (older versions keep them); returns
        this dataset, now at it."""
        self._info = _runtime.runtime().store().delete_dataset_records(
            self.dataset_id, list(record_ids) if isinstance(record_ids, (list, tuple))
            else record_ids)
        return self

    def to_df(self) -> pandas.DataFrame:
        """The records of this version as a DataFrame: ``record_id``, ``inputs``,
        ``outputs``, ``expectations``, ``tags``, ``source``, ``source_type``,
        ``source_id``, ``created_time``, ``last_update_time``, ``created_by``,
        ``last_updated_by``."""
        import pandas

        columns = ["record_id", "inputs", "outputs", "expectations", "tags", "source",
                   "source_type", "source_id", "created_time", "last_update_time",
                   "created_by", "last_updated_by"]
        rows = []
        for record in self.records:
            row = record.to_dict()
            data = (record.source or {}).get("source_data") or {}
            row["source_type"] = record.source_type
            row["source_id"] = data.get("trace_id") if isinstance(data, Mapping) else None
            rows.append({column: row.get(column) for column in columns})
        return pandas.DataFrame(rows, columns=columns)

    def to_evaluation_rows(self) -> list[dict[str, Any]]:
        """The rows ``evaluate`` takes: ``inputs``, ``outputs`` (when the record has them)
        and ``expectations`` of each record of this version."""
        rows: list[dict[str, Any]] = []
        for record in self.records:
            row: dict[str, Any] = {"inputs": dict(record.inputs),
                                   "expectations": dict(record.expectations)}
            if record.outputs is not None:
                row["outputs"] = record.outputs
            rows.append(row)
        return rows

    def evaluation_params(self) -> dict[str, str]:
        """What an evaluation run records of the dataset it ran on."""
        return {"dataset_name": self.name, "dataset_id": self.dataset_id,
                "dataset_version": str(self.version)}


def create_dataset(name: str, experiment_id: str | Sequence[str] | None = None,
                   tags: Mapping[str, str] | None = None) -> EvaluationDataset:
    """Create an empty dataset in the active experiment (or ``experiment_id``: one id or a
    list). AlreadyExistsError if a dataset has this name."""
    rt = _runtime.runtime()
    if experiment_id is None:
        experiment_ids = [rt.active_experiment_id()]
    elif isinstance(experiment_id, (str, int)) and not isinstance(experiment_id, bool):
        experiment_ids = [str(experiment_id)]
    elif isinstance(experiment_id, Sequence):
        experiment_ids = [str(e) for e in experiment_id]
    else:
        raise InvalidParameterError(
            f"Invalid experiment_id {experiment_id!r}: expected an id or a list of ids")
    return EvaluationDataset(rt.store().create_dataset(name, experiment_ids, tags))


def get_dataset(name: str | None = None, dataset_id: str | None = None,
                version: int | None = None) -> EvaluationDataset:
    """The dataset of this name or id (give one), at ``version`` (default the latest);
    NotFoundError otherwise."""
    return EvaluationDataset(_runtime.runtime().store().get_dataset(
        dataset_id=dataset_id, name=name, version=version))


def search_datasets(experiment_ids: str | Sequence[str] | None = None,
                    filter_string: str | None = None, max_results: int = 1000,
                    order_by: Sequence[str] | None = None) -> PagedList[EvaluationDataset]:
    """Datasets at their latest version: of these experiments (default: of any), matching
    ``filter_string`` (``name``, ``tags.<key>``, ``created_time``, … joined by AND; see
    :mod:`assay.search.dataset_filter`), ordered by ``order_by`` (default
    ``created_time DESC``), at most ``max_results``."""
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    page = _runtime.runtime().store().search_datasets(
        None if experiment_ids is None else [str(e) for e in experiment_ids],
        filter_string, max_results, order_by)
    return PagedList([EvaluationDataset(info) for info in page], page.token)


def delete_dataset(name: str | None = None, dataset_id: str | None = None) -> None:
    """Delete the dataset of this name or id, with every version of its records."""
    store = _runtime.runtime().store()
    if dataset_id is None or name is not None:
        dataset_id = store.get_dataset(dataset_id=dataset_id, name=name).dataset_id
    store.delete_dataset(dataset_id)


def sync_labeling_session(run_id: str, experiment_id: str, label_schemas: Sequence[str],
                          to_dataset: str) -> EvaluationDataset:
    """Merge a labeling session's items into the dataset named ``to_dataset`` (created in
    the session's experiment when missing), each with its reviewers' expectations: per
    expectation question, the value every reviewer of the item gave, else the latest
    answer. Sessions of more than 10,000 items make one version per 10,000."""
    rt = _runtime.runtime()
    store = rt.readable_store()
    try:
        dataset = EvaluationDataset(store.get_dataset(name=to_dataset))
    except NotFoundError:
        dataset = EvaluationDataset(store.create_dataset(to_dataset, [experiment_id]))
    questions = [name for name in label_schemas
                 if store.get_label_schema(experiment_id=experiment_id, name=name).type
                 == LabelSchemaType.EXPECTATION]
    answers = store.get_labeling_answers(run_id)
    records = [_session_record(trace, run_id, {q: answers.get(q, {}) for q in questions})
               for trace in _session_traces(store, run_id, experiment_id)]
    for start in range(0, len(records), MAX_RECORDS_PER_CHANGE):
        dataset.merge_records(records[start:start + MAX_RECORDS_PER_CHANGE])
    return dataset


#: Tags of a trace made for a dataset's record (``add_dataset``): the dataset's id and the
#: record's, by which the trace is found again rather than made twice.
DATASET_ID_TAG = "assay.dataset_id"
DATASET_RECORD_TAG = "assay.dataset_record_id"


def dataset_traces(experiment_id: str, dataset_name: str,
                   record_ids: Sequence[str] | None = None) -> list[str]:
    """The traces a labeling session shows for the records of the dataset ``dataset_name``
    (all of them, or those of ``record_ids``), in the records' order: the trace a record was
    made from when it is in ``experiment_id``, else a trace made for the record once (one
    span holding its inputs and outputs, its expectations as Expectations, tagged with the
    dataset and record ids) and found again by its tags on the next call."""
    rt = _runtime.runtime()
    store = rt.readable_store()
    records = EvaluationDataset(store.get_dataset(name=dataset_name)).records
    if record_ids is not None:
        by_id = {record.record_id: record for record in records}
        wanted = list(dict.fromkeys(str(r) for r in record_ids))
        unknown = [r for r in wanted if r not in by_id]
        if unknown:
            shown = ", ".join(repr(r) for r in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise InvalidParameterError(
                f"Invalid record_ids: {shown}{more} not in dataset {dataset_name!r}")
        records = [by_id[r] for r in wanted]
    sources = {record.record_id: trace_id for record in records
               if (trace_id := _source_trace_id(record)) is not None}
    found = store.find_traces(list(sources.values())) if sources else {}
    traces: dict[str, str] = {
        record_id: trace_id for record_id, trace_id in sources.items()
        if trace_id in found and found[trace_id].info.experiment_id == experiment_id}
    missing = [record for record in records if record.record_id not in traces]
    if missing:
        dataset_id = missing[0].dataset_id
        traces.update(_made_traces(store, experiment_id, dataset_id))
        new = [_record_trace(rt, experiment_id, record) for record in missing
               if record.record_id not in traces]
        for start in range(0, len(new), _PAGE):
            store.log_traces(new[start:start + _PAGE])
        traces.update((t.info.tags[DATASET_RECORD_TAG], t.info.trace_id) for t in new)
    return [traces[record.record_id] for record in records]


def _source_trace_id(record: DatasetRecord) -> str | None:
    """The id of the trace ``record`` was made from, if it was made from one."""
    data = (record.source or {}).get("source_data")
    if record.source_type != "TRACE" or not isinstance(data, Mapping):
        return None
    trace_id = data.get("trace_id")
    return str(trace_id) if trace_id else None


def _made_traces(store: Store, experiment_id: str, dataset_id: str) -> dict[str, str]:
    """The traces made earlier for this dataset's records in this experiment, by record."""
    made: dict[str, str] = {}
    token: str | None = None
    quoted = dataset_id.replace("'", "''")
    while True:
        page = store.search_traces([experiment_id], max_results=_PAGE, page_token=token,
                                   include_spans=False,
                                   filter_string=f"tag.`{DATASET_ID_TAG}` = '{quoted}'")
        for trace in page:
            record_id = trace.info.tags.get(DATASET_RECORD_TAG)
            if record_id:
                made.setdefault(record_id, trace.info.trace_id)
        token = page.token
        if token is None:
            return made


def _record_trace(rt: _runtime.Runtime, experiment_id: str, record: DatasetRecord) -> Trace:
    """A new trace of one span holding ``record``'s inputs and outputs, with its
    expectations, tagged with its dataset and record ids (not written yet)."""
    from assay.entities import Expectation
    from assay.entities.assessment_source import AssessmentSource, AssessmentSourceType
    from assay.entities.span import SpanType
    from assay.tracing.assembly import build_trace
    from assay.tracing.tracer import InMemoryTrace

    made: list[InMemoryTrace] = []
    token = rt.trace_sink.set(made.append)
    try:
        span = rt.tracer.start_span("dataset_record", SpanType.CHAIN, sampling_ratio=1.0,
                                    experiment_id=experiment_id)
        span.set_inputs(dict(record.inputs))
        if record.outputs is not None:
            span.set_outputs(record.outputs)
        span.end()
    finally:
        rt.trace_sink.reset(token)
    if not made:
        raise InvalidParameterError(
            f"Invalid dataset record {record.record_id!r}: no trace could be made for it "
            "(is tracing turned off?)")
    trace = build_trace(made[0])
    trace.info.tags[DATASET_ID_TAG] = record.dataset_id
    trace.info.tags[DATASET_RECORD_TAG] = record.record_id
    source = AssessmentSource(AssessmentSourceType.HUMAN, f"dataset:{record.dataset_id}")
    trace.info.assessments.extend(
        Expectation(name, value, trace_id=trace.info.trace_id, source=source)
        for name, value in record.expectations.items())
    return trace


def _session_traces(store: Store, run_id: str, experiment_id: str) -> list[Trace]:
    traces: list[Trace] = []
    token: str | None = None
    while True:
        page = store.search_traces([experiment_id], max_results=_PAGE, page_token=token,
                                   run_id=run_id, order_by=["timestamp_ms ASC"])
        traces.extend(page)
        token = page.token
        if token is None:
            return traces


def _session_record(trace: Trace, run_id: str,
                    answers: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    record = _from_trace(trace)
    expectations = dict(record["expectations"])
    trace_id = trace.info.trace_id
    for name, by_trace in answers.items():
        by_reviewer = by_trace.get(trace_id)
        if not by_reviewer:
            continue
        values = list(by_reviewer.values())
        if all(value == values[0] for value in values):
            expectations[name] = values[0]
            continue
        given = [a for a in trace.search_assessments(name, type="expectation")
                 if a.run_id == run_id and a.source.source_id in by_reviewer]
        latest = max(given, key=lambda a: a.last_update_time_ms, default=None)
        expectations[name] = values[-1] if latest is None else latest.value
    record["expectations"] = expectations
    return record


# -- records from what merge_records takes -----------------------------------------------------

def _records(records: Any) -> list[dict[str, Any]]:
    if _is_dataframe(records):
        if "trace" in records.columns and "trace_id" in records.columns:
            return [_from_trace(Trace.from_json(t) if isinstance(t, str) else t)
                    for t in records["trace"]]
        return [{k: v for k, v in row.items() if not _missing(v)}
                for row in records.to_dict(orient="records")]
    if isinstance(records, Trace):
        return [_from_trace(records)]
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Iterable):
        raise InvalidParameterError(
            f"Invalid records: a {type(records).__name__}; pass a list of dicts, a "
            "DataFrame, or a list of Traces")
    return [_from_trace(item) if isinstance(item, Trace) else item for item in records]


def _from_trace(trace: object) -> dict[str, Any]:
    if not isinstance(trace, Trace):
        raise InvalidParameterError(
            f"Invalid records: the 'trace' column holds a {type(trace).__name__}, not a Trace")
    fields = row_fields(trace=trace)
    trace_id = trace.info.trace_id
    if not isinstance(fields.inputs, Mapping) or not fields.inputs:
        raise InvalidParameterError(
            f"Invalid trace {trace_id!r}: its root span has no inputs as a dict, so it "
            "cannot be a record")
    source_data: dict[str, Any] = {"trace_id": trace_id}
    session_id = trace.info.session_id
    if session_id:
        source_data["session_id"] = session_id
    record: dict[str, Any] = {"inputs": dict(fields.inputs),
                              "expectations": dict(fields.expectations or {}),
                              "source": {"source_type": "TRACE", "source_data": source_data}}
    if fields.outputs is not None:
        record["outputs"] = fields.outputs
    return record


def _is_dataframe(value: object) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
