"""What every store does for evaluation datasets: datasets, their records and versions.

:class:`~assay.store.base.Store` inherits these. Both stores implement every method, with
the same results and errors: the SQL store in one transaction each (``sql/datasets.py``),
the REST store through ``/api/v1/datasets``. Records are checked by
:func:`~assay.entities.dataset.check_new_records` in either store before anything is sent
or written.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from assay.entities.dataset import DatasetInfo, DatasetRecord
from assay.paging import PagedList

__all__ = ["Datasets"]


class Datasets(abc.ABC):
    """Evaluation datasets (see the module docstring and :mod:`assay.entities.dataset`)."""

    @abc.abstractmethod
    def create_dataset(self, name: str, experiment_ids: Sequence[str],
                       tags: Mapping[str, str] | None = None,
                       created_by: str | None = None) -> DatasetInfo:
        """Create an empty dataset (version 0) in these experiments (each must exist);
        AlreadyExistsError if a dataset has this name."""

    @abc.abstractmethod
    def get_dataset(self, *, dataset_id: str | None = None, name: str | None = None,
                    version: int | None = None) -> DatasetInfo:
        """The dataset with this id or name (exactly one of them), at ``version`` (default
        the latest); NotFoundError naming it, or the version, otherwise."""

    @abc.abstractmethod
    def search_datasets(self, experiment_ids: Sequence[str] | None = None,
                        filter_string: str | None = None, max_results: int = 1000,
                        order_by: Sequence[str] | None = None,
                        page_token: str | None = None) -> PagedList[DatasetInfo]:
        """Datasets (of any of these experiments, when given) matching the filter, at their
        latest version, a page at a time (see :mod:`assay.search.dataset_filter`)."""

    @abc.abstractmethod
    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset with every version of its records; NotFoundError if none."""

    @abc.abstractmethod
    def merge_dataset_records(self, dataset_id: str, records: Sequence[Mapping[str, Any]],
                              updated_by: str | None = None) -> DatasetInfo:
        """Upsert records (dicts, checked by
        :func:`~assay.entities.dataset.check_new_records`) by their inputs' digest and
        return the dataset at its new version.

        A record whose inputs are already there is merged into it: its expectations and tags
        key by key (the newer value wins), its outputs replaced when given, its source kept.
        A call that changes something makes one new version; one that changes nothing makes
        none. All or nothing.
        """

    @abc.abstractmethod
    def delete_dataset_records(self, dataset_id: str, record_ids: Sequence[str],
                               updated_by: str | None = None) -> DatasetInfo:
        """Remove records (ids not in the dataset are ignored) and return the dataset at
        its new version (the same version when none was there). Older versions keep them."""

    @abc.abstractmethod
    def list_dataset_records(self, dataset_id: str, version: int | None = None,
                             max_results: int = 1000,
                             page_token: str | None = None) -> PagedList[DatasetRecord]:
        """The records of a version (default the latest), oldest first, a page at a time."""
