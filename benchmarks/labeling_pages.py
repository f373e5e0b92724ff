"""The owner's labeling pages with a 100,000-item session, on SQLite: the Labeling tab, the
session page (progress, agreement over every answer, disagreements, gold labels) and its
JSON twin.

The store holds ``--traces`` traces (``_search_data.py``'s, bulk-inserted as ``search.py``
does), all of them items of one session asking two questions (pass/fail and categorical),
assigned to two reviewers; both reviewers answer the first ``--answered`` items (about one
in eight differently), through the store as the review app does. The server runs in its own
process (uvicorn, auth off), and each page is timed over HTTP on 127.0.0.1 with a warm
connection, as ``ui.py`` does: a round trip on loopback, so the server's own time is a little
less than the figures.

    .venv/bin/python benchmarks/labeling_pages.py                     # 100,000 items
    .venv/bin/python benchmarks/labeling_pages.py --db /tmp/lab.db --keep
    .venv/bin/python benchmarks/labeling_pages.py --db /tmp/lab.db    # reuse the file

Nothing here asserts a timing; it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import httpx  # noqa: E402

from assay.entities.label_schema import (  # noqa: E402
    InputCategorical,
    InputPassFail,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo  # noqa: E402
from assay.entities.run import new_run_id  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402
from search import fill_assay, log  # noqa: E402
from ui import free_port, time_page  # noqa: E402

REVIEWERS = ("ana@example.com", "ben@example.com")
OPTIONS = ["Accurate", "Partially accurate", "Inaccurate"]
SESSION_NAME = "bench: 100k items"


def fill_session(uri: str, answered: int) -> tuple[str, str]:
    """A session over every trace of the experiment, and both reviewers' answers on the first
    ``answered`` items; returns (experiment id, run id)."""
    store = SqlStore(uri)
    experiment = store.find_experiment_by_name("bench-search")
    assert experiment is not None
    eid = experiment.experiment_id
    for schema in (LabelSchema("helpful", LabelSchemaType.FEEDBACK, InputPassFail()),
                   LabelSchema("accuracy", LabelSchemaType.FEEDBACK,
                               InputCategorical(OPTIONS))):
        store.create_label_schema(LabelSchema(schema.name, schema.type, schema.input,
                                              experiment_id=eid))
    run_id = new_run_id()
    store.create_labeling_session(LabelingSessionInfo(
        run_id=run_id, experiment_id=eid, name=SESSION_NAME,
        label_schemas=("helpful", "accuracy"), assigned_users=REVIEWERS,
        reviewers_per_item=2))
    ids: list[str] = []
    token = None
    while True:
        page = store.search_traces([eid], max_results=10_000, page_token=token,
                                   include_spans=False)
        ids += [t.info.trace_id for t in page]
        token = page.token
        if token is None:
            break
    for start in range(0, len(ids), 10_000):
        store.add_labeling_items(run_id, ids[start:start + 10_000])
    log(f"  session of {len(ids):,} items; answering {answered:,} of them twice")
    for number, trace_id in enumerate(ids[:answered]):
        for reviewer in REVIEWERS:
            differs = reviewer == REVIEWERS[1] and number % 8 == 0
            store.submit_labeling_answers(run_id, trace_id, reviewer, {
                "helpful": (number % 3 != 0) != differs,
                "accuracy": OPTIONS[(number + (1 if differs else 0)) % 3]})
    store.close()
    return eid, run_id


def time_after_answers(http: httpx.Client, uri: str, run_id: str, path: str,
                       reps: int) -> dict[str, float]:
    """The session page as its owner sees it while reviewers work: before each view, one
    reviewer submits one more answer (through the store, as the review app does), so no
    view finds the page's figures still current."""
    store = SqlStore(uri)
    samples: list[float] = []
    size = 0
    try:
        for number in range(reps):
            reviewer = REVIEWERS[number % 2]
            trace_id = store.next_labeling_item(run_id, reviewer)
            assert trace_id is not None
            store.submit_labeling_answers(run_id, trace_id, reviewer, {
                "helpful": number % 2 == 0, "accuracy": OPTIONS[number % 3]})
            started = time.perf_counter()
            response = http.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            size = len(response.content)
    finally:
        store.close()
    samples.sort()
    return {"median_ms": statistics.median(samples), "best_ms": samples[0],
            "p90_ms": samples[min(len(samples) - 1, int(len(samples) * 0.9))],
            "kib": size / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--answered", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="assay-bench-labeling-")
        args.db = Path(folder.name) / "labeling.db"
    uri = f"sqlite:///{args.db}"
    if not args.db.exists():
        log(f"Filling {args.db} with {args.traces:,} traces")
        log(f"  filled in {fill_assay(uri, args.traces):.0f} s")
        started = time.perf_counter()
        fill_session(uri, args.answered)
        log(f"  session filled in {time.perf_counter() - started:.0f} s")
    store = SqlStore(uri)
    (info,) = [s for s in store.list_labeling_sessions(
        [store.find_experiment_by_name("bench-search").experiment_id])  # type: ignore[union-attr]
        if s.name == SESSION_NAME]
    eid, run_id = info.experiment_id, info.run_id
    items = store.get_labeling_progress(run_id).items
    store.close()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "ui.py"), "--role", "serve", "--uri", uri,
         "--port", str(port)], env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            session = f"/experiments/{eid}/labeling/sessions/{run_id}"
            pages = {"labeling tab": f"/experiments/{eid}/labeling",
                     "session page": session, "session page as JSON": session + ".json",
                     "a schema's edit page": None}
            schema = http.get(f"/experiments/{eid}/labeling.json").json()["schemas"][0]
            pages["a schema's edit page"] = schema["url"]
            print(f"{items:,} items, {args.answered:,} answered by both reviewers")
            for name, path in pages.items():
                assert path is not None
                figures = time_page(http, path, args.reps)
                results[name] = figures
                print(f"  {name:28} median {figures['median_ms']:7.1f} ms   "
                      f"best {figures['best_ms']:7.1f} ms   {figures['kib']:6.1f} KiB")
            # The review app as a reviewer sees it (no sign-in: the name in its cookie).
            store = SqlStore(uri)
            try:
                item = store.next_labeling_item(run_id, REVIEWERS[0])
            finally:
                store.close()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                              cookies={"assay_reviewer": REVIEWERS[0]}) as reviewer:
                for name, path in (("review: the reviewer's sessions", "/review"),
                                   ("review: a session's page", f"/review/{run_id}"),
                                   ("review: an item", f"/review/{run_id}/items/{item}")):
                    figures = time_page(reviewer, path, args.reps)
                    results[name] = figures
                    print(f"  {name:28} median {figures['median_ms']:7.1f} ms   "
                          f"best {figures['best_ms']:7.1f} ms   {figures['kib']:6.1f} KiB")
            for name, path in (("session page, after an answer", session),
                               ("its JSON, after an answer", session + ".json")):
                figures = time_after_answers(http, uri, run_id, path, args.reps)
                results[name] = figures
                print(f"  {name:28} median {figures['median_ms']:7.1f} ms   "
                      f"best {figures['best_ms']:7.1f} ms   {figures['kib']:6.1f} KiB")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if folder is not None and not args.keep:
            folder.cleanup()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
