"""Labeling sessions at scale, on SQLite and PostgreSQL: adding items, handing them out to
many reviewers at once, and the agreement of a whole session.

For each backend (a SQLite file in a temporary directory; a scratch schema on the PostgreSQL
server of ``--postgres-uri``, dropped at the end) the script builds, with the store's own
operations:

* ``--items`` traces of one span (``log_traces``, 2,000 a batch), which also carry the
  answers of 3 reviewers to one categorical question for a *finished* session (HUMAN
  feedback linked to that session's run, as ``submit_labeling_answers`` writes it: stored
  by ``log_traces`` in bulk, the way assessments logged while a trace ran are);
* that finished session, with every trace as an item;

and on PostgreSQL brings the tables' statistics up to date after each bulk load (``ANALYZE``
of the labeling tables, what autovacuum does soon after; see :func:`analyze`).

Then it times, ``--reps`` times each, reporting the best (the machine is shared):

(a) ``add_labeling_items`` of ``--add`` traces to a new session, in one call;
(b) ``--reviewers`` threads, each a reviewer of one session of ``--items`` items and
    ``--per-item`` reviewers per item, looping ``next_labeling_item`` then
    ``submit_labeling_answers``: back to back with no time to think, the store at
    saturation (``--rounds`` items each, all starting at the same instant); then reading
    each item for a random time of mean ``--think`` seconds before answering, as people do
    (``--paced-rounds`` items each), each arriving at a random moment as people do rather
    than all at the same instant; then all of them asking at the same instant, once (the
    worst moment: how long the last waits); then one reviewer alone. The figures are the
    percentiles of every ``next_labeling_item`` call as its caller waits for it (turns at
    the writer included);
(c) the agreement of the finished session: ``get_labeling_answers`` (every current answer)
    plus ``compute_agreement``, what ``LabelingSession.agreement()`` does.

Targets: (a) under 1 s for 10,000 traces; (b) p99 under 20 ms (reviewers reading their
items); (c) under 1 s for 100,000 items x 3 reviewers.

Usage::

    .venv/bin/python benchmarks/labeling.py                       # SQLite and PostgreSQL
    .venv/bin/python benchmarks/labeling.py --backends sqlite --items 20000 --reps 1
    .venv/bin/python benchmarks/labeling.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assay.entities import (
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    Span,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceState,
)
from assay.entities.label_schema import InputCategorical, LabelSchema, LabelSchemaType
from assay.entities.labeling import LabelingSessionInfo
from assay.entities.run import new_run_id
from assay.stats.agreement import compute_agreement
from assay.store.sql import SqlStore

QUESTION = "quality"
OPTIONS = ("good", "ok", "bad")
START_MS = 1_735_689_600_000
BATCH = 2_000
MAX_ADD = 10_000  # the most traces one add_labeling_items call takes
TARGETS = {"add": 1.0, "next_p99_ms": 20.0, "agreement": 1.0}


# -- data ------------------------------------------------------------------------------------

def make_traces(experiment_id: str, n: int, finished_run: str, per_item: int,
                seed: int) -> Iterator[list[Trace]]:
    """``n`` traces of one span, in batches; each with ``per_item`` reviewers' answers for
    the run ``finished_run`` (the item's "true" answer with probability 0.8)."""
    rng = random.Random(seed)
    reviewers = [f"expert-{i}" for i in range(per_item)]
    batch: list[Trace] = []
    for i in range(n):
        trace_id = f"tr-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        start_ns = (START_MS + i) * 1_000_000
        span = Span(trace_id=trace_id, span_id=f"{rng.getrandbits(64):016x}", parent_id=None,
                    name="chat", start_time_ns=start_ns, end_time_ns=start_ns + 5_000_000,
                    span_type=SpanType.CHAIN, status=SpanStatus(SpanStatusCode.OK),
                    inputs_json='{"question": "What is MLflow?"}',
                    outputs_json='"An open-source platform for the ML lifecycle."',
                    attributes={}, events=())
        truth = rng.choice(OPTIONS)
        answers = [Feedback(QUESTION, truth if rng.random() < 0.8 else rng.choice(OPTIONS),
                            source=AssessmentSource(AssessmentSourceType.HUMAN, reviewer),
                            trace_id=trace_id, run_id=finished_run,
                            create_time_ms=START_MS + i)
                   for reviewer in reviewers]
        info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                         request_time=START_MS + i, state=TraceState.OK,
                         execution_duration=5, assessments=answers)
        batch.append(Trace(info=info, data=TraceData(spans=[span])))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def new_session(store: SqlStore, experiment_id: str, name: str, *, per_item: int = 1,
                reviewers: Sequence[str] = ()) -> str:
    info = store.create_labeling_session(LabelingSessionInfo(
        run_id=new_run_id(), experiment_id=experiment_id, name=name,
        label_schemas=(QUESTION,), assigned_users=tuple(reviewers),
        reviewers_per_item=per_item))
    return info.run_id


def add_all(store: SqlStore, run_id: str, trace_ids: Sequence[str]) -> None:
    for start in range(0, len(trace_ids), MAX_ADD):
        store.add_labeling_items(run_id, trace_ids[start:start + MAX_ADD])


# -- measurements ----------------------------------------------------------------------------

def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of ``samples`` (seconds), in milliseconds."""
    cuts = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50": 1000 * cuts[49], "p90": 1000 * cuts[89], "p99": 1000 * cuts[98],
            "max": 1000 * max(samples), "n": len(samples)}


def time_add(store: SqlStore, experiment_id: str, trace_ids: Sequence[str],
             rep: int) -> float:
    run_id = new_session(store, experiment_id, f"add-{rep}")
    start = time.perf_counter()
    added = store.add_labeling_items(run_id, trace_ids)
    elapsed = time.perf_counter() - start
    assert len(added) == len(trace_ids), (len(added), len(trace_ids))
    store.delete_labeling_session(run_id)
    return elapsed


def time_reviewers(store: SqlStore, run_id: str, reviewers: Sequence[str],
                   rounds: int, seed: int, think_s: float = 0.0) -> dict[str, Any]:
    """Every reviewer in a thread of its own: next item, answer, ``rounds`` times; with
    ``think_s``, each then reads the next item for a random time of that mean
    (exponential) before answering, and each starts as if halfway through reading an item
    (after a random time of that mean), so that they arrive independently, as people do,
    rather than all at the same instant. Without it they start together (see
    :func:`time_together` for that moment alone)."""
    next_s: list[float] = []
    submit_s: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(reviewers))
    errors: list[BaseException] = []

    def work(reviewer: str, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        mine_next: list[float] = []
        mine_submit: list[float] = []
        try:
            barrier.wait()
            if think_s:
                time.sleep(rng.expovariate(1 / think_s))
            for _ in range(rounds):
                t0 = time.perf_counter()
                trace_id = store.next_labeling_item(run_id, reviewer)
                t1 = time.perf_counter()
                if trace_id is None:
                    break
                if think_s:
                    time.sleep(rng.expovariate(1 / think_s))
                t1_answer = time.perf_counter()
                store.submit_labeling_answers(run_id, trace_id, reviewer,
                                              {QUESTION: rng.choice(OPTIONS)})
                mine_next.append(t1 - t0)
                mine_submit.append(time.perf_counter() - t1_answer)
        except BaseException as exc:  # reported after the threads end
            errors.append(exc)
        with lock:
            next_s.extend(mine_next)
            submit_s.extend(mine_submit)

    threads = [threading.Thread(target=work, args=(reviewer, i), name=f"reviewer-{i}")
               for i, reviewer in enumerate(reviewers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    # A reviewer whose call failed (a pool timeout, say) stops; the others' figures stand,
    # and the failures are reported beside them.
    return {"next_ms": percentiles(next_s), "submit_ms": percentiles(submit_s),
            "items_per_s": len(next_s) / wall, "wall_s": wall,
            "errors": [f"{type(e).__name__}: {str(e)[:200]}" for e in errors]}


def time_together(store: SqlStore, run_id: str, reviewers: Sequence[str]) -> dict[str, Any]:
    """Every reviewer asks for an item at the same instant, once (and answers it): how long
    the last of them waits, the worst case of many people clicking at once."""
    return time_reviewers(store, run_id, reviewers, 1, 0)


def time_agreement(store: SqlStore, run_id: str) -> dict[str, Any]:
    start = time.perf_counter()
    answers = store.get_labeling_answers(run_id)[QUESTION]
    read = time.perf_counter()
    agreement = compute_agreement(answers, "nominal")
    done = time.perf_counter()
    return {"read_s": read - start, "compute_s": done - read, "total_s": done - start,
            "items": len(answers), "n_items": agreement.n_items,
            "alpha": agreement.krippendorff_alpha}


# -- one backend -----------------------------------------------------------------------------

#: The tables whose statistics the reviewers' queries depend on.
ANALYZED = ("traces", "assessments", "runs", "run_traces", "labeling_sessions",
            "labeling_reviewers", "labeling_reviews")


def analyze(uri: str) -> None:
    """Bring PostgreSQL's statistics of the labeling tables up to date, as autovacuum does
    within a minute or so of a bulk load. Right after one, the planner still believes the
    tables empty: it then reads a session's 300,000 answers with 300,000 index probes (1.5 s
    rather than 0.35 s). Nothing to do on SQLite, whose plans need no statistics here."""
    if not uri.startswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        for table in ANALYZED:
            conn.execute(f"ANALYZE {table}".encode())


@contextmanager
def opened(backend: str, postgres_uri: str) -> Iterator[tuple[SqlStore, str]]:
    """A store on a new database, and its URI: a SQLite file in a temporary directory, or a
    scratch schema on the PostgreSQL server; removed afterwards."""
    if backend == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="bench-labeling-"))
        uri = f"sqlite:///{workdir / 'labeling.db'}"
        store = SqlStore(uri)
        try:
            yield store, uri
        finally:
            store.close()
            shutil.rmtree(workdir, ignore_errors=True)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from server import postgres_schema

    uri, drop = postgres_schema(postgres_uri)
    store = SqlStore(uri)
    try:
        yield store, uri
    finally:
        store.close()
        drop()


def run_backend(backend: str, args: argparse.Namespace,
                log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": backend}
    with opened(backend, args.postgres_uri) as (store, uri):
        experiment_id = store.create_experiment("bench-labeling")
        store.create_label_schema(LabelSchema(
            name=QUESTION, type=LabelSchemaType.FEEDBACK, experiment_id=experiment_id,
            input=InputCategorical(list(OPTIONS)), title="How good is the answer?"))
        experts = [f"expert-{i}" for i in range(args.per_item)]
        finished = new_session(store, experiment_id, "finished", per_item=args.per_item,
                               reviewers=experts)

        start = time.perf_counter()
        trace_ids: list[str] = []
        for batch in make_traces(experiment_id, args.items, finished, args.per_item, args.seed):
            store.log_traces(batch)
            trace_ids.extend(t.info.trace_id for t in batch)
        out["build_traces_s"] = time.perf_counter() - start
        log(f"  {backend}: {len(trace_ids):,} traces with {args.per_item} answers each in "
            f"{out['build_traces_s']:.1f} s")
        start = time.perf_counter()
        add_all(store, finished, trace_ids)
        out["add_all_items_s"] = time.perf_counter() - start
        analyze(uri)

        adds = [time_add(store, experiment_id, trace_ids[:args.add], rep)
                for rep in range(args.reps)]
        out["add_s"] = adds
        log(f"  {backend}: add {args.add:,} items: " + ", ".join(f"{s:.3f}" for s in adds))

        agreements = [time_agreement(store, finished) for _ in range(args.reps)]
        out["agreement"] = agreements
        log(f"  {backend}: agreement: " + ", ".join(f"{a['total_s']:.3f}" for a in agreements))

        reviewers = [f"reviewer-{i:02d}" for i in range(args.reviewers)]
        out["reviewers_runs"] = []
        out["paced_runs"] = []
        out["single_runs"] = []
        out["together_runs"] = []
        for rep in range(args.reps):
            run_id = new_session(store, experiment_id, f"review-{rep}", per_item=args.per_item,
                                 reviewers=[*reviewers, "solo"])
            add_all(store, run_id, trace_ids)
            analyze(uri)
            # Warm: each reviewer's first claim and answer, untimed.
            time_reviewers(store, run_id, reviewers, 1, args.seed)
            crowd = time_reviewers(store, run_id, reviewers, args.rounds, args.seed + rep)
            paced = time_reviewers(store, run_id, reviewers, args.paced_rounds,
                                   args.seed + rep, args.think)
            together = time_together(store, run_id, reviewers)
            solo = time_reviewers(store, run_id, ["solo"], args.rounds * 2, args.seed)
            out["reviewers_runs"].append(crowd)
            out["paced_runs"].append(paced)
            out["single_runs"].append(solo)
            out["together_runs"].append(together)
            for error in crowd["errors"] + paced["errors"]:
                log(f"  {backend}: a reviewer stopped: {error}")
            log(f"  {backend}: {args.reviewers} reviewers: next p50 "
                f"{crowd['next_ms']['p50']:.1f} ms, p99 {crowd['next_ms']['p99']:.1f} ms, "
                f"{crowd['items_per_s']:.0f} items/s; thinking: next p50 "
                f"{paced['next_ms']['p50']:.1f} ms, p99 {paced['next_ms']['p99']:.1f} ms; "
                f"all at once: the last waits {together['next_ms']['max']:.1f} ms; "
                "one reviewer: next p50 "
                f"{solo['next_ms']['p50']:.2f} ms, p99 {solo['next_ms']['p99']:.2f} ms")
            store.delete_labeling_session(run_id)
    return out


# -- report ----------------------------------------------------------------------------------

def best(runs: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    return min(runs, key=key)


def table(results: Sequence[dict[str, Any]], args: argparse.Namespace) -> str:
    names = [r["backend"] for r in results]
    rows: list[tuple[str, list[str], str]] = []

    def add(label: str, cells: list[str], target: str = "") -> None:
        rows.append((label, cells, target))

    add(f"(a) add_labeling_items, {args.add:,} traces, s (best of {args.reps})",
        [f"**{min(r['add_s']):.3f}** ({max(r['add_s']):.3f})" for r in results],
        f"< {TARGETS['add']:g} s")
    crowd = [best(r["reviewers_runs"], lambda c: c["next_ms"]["p99"]) for r in results]
    paced = [best(r["paced_runs"], lambda c: c["next_ms"]["p99"]) for r in results]
    solo = [best(r["single_runs"], lambda c: c["next_ms"]["p99"]) for r in results]
    who = f"{args.reviewers} reviewers"
    add(f"(b) next_labeling_item, {who} reading {args.think:g} s an item, p50 ms",
        [f"{c['next_ms']['p50']:.1f}" for c in paced])
    add(f"(b) next_labeling_item, {who} reading {args.think:g} s an item, p99 ms",
        [f"**{c['next_ms']['p99']:.1f}**" for c in paced], f"< {TARGETS['next_p99_ms']:g} ms")
    add(f"(b) next_labeling_item, {who} back to back (saturated), p50 / p99 ms",
        [f"{c['next_ms']['p50']:.1f} / {c['next_ms']['p99']:.1f}" for c in crowd])
    add("(b) submit_labeling_answers, back to back, p50 / p99 ms",
        [f"{c['submit_ms']['p50']:.1f} / {c['submit_ms']['p99']:.1f}" for c in crowd])
    add("(b) items reviewed per second, back to back",
        [f"{c['items_per_s']:.0f}" for c in crowd])
    add("(b) reviewers stopped by an error, all runs",
        [str(sum(len(c["errors"]) for c in (*r["reviewers_runs"], *r["paced_runs"])))
         for r in results])
    together = [best(r["together_runs"], lambda c: c["next_ms"]["max"]) for r in results]
    add(f"(b) next_labeling_item, {who} asking at the same instant, p50 / slowest ms",
        [f"{c['next_ms']['p50']:.1f} / {c['next_ms']['max']:.1f}" for c in together])
    add("(b) next_labeling_item, one reviewer alone, p50 / p99 ms",
        [f"{c['next_ms']['p50']:.2f} / {c['next_ms']['p99']:.2f}" for c in solo])
    agree = [best(r["agreement"], lambda a: a["total_s"]) for r in results]
    add(f"(c) agreement, {args.items:,} items x {args.per_item} reviewers, s "
        f"(best of {args.reps})", [f"**{a['total_s']:.3f}**" for a in agree],
        f"< {TARGETS['agreement']:g} s")
    add("(c) of which reading the answers / computing, s",
        [f"{a['read_s']:.3f} / {a['compute_s']:.3f}" for a in agree])
    add(f"setup: log_traces of {args.items:,} traces with {args.per_item} answers each, s",
        [f"{r['build_traces_s']:.1f}" for r in results])
    add(f"setup: {args.items:,} items added, {MAX_ADD:,} a call, s",
        [f"{r['add_all_items_s']:.1f}" for r in results])
    lines = ["| figure | " + " | ".join(names) + " | target |",
             "|---|" + "---:|" * len(names) + "---|"]
    lines += [f"| {label} | " + " | ".join(cells) + f" | {target} |"
              for label, cells, target in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--postgres-uri", default=os.environ.get("ASSAY_TEST_POSTGRES_URI")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--add", type=int, default=10_000, help="traces added in one call")
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--per-item", type=int, default=3, help="reviewers per item")
    parser.add_argument("--rounds", type=int, default=50,
                        help="items each reviewer takes back to back")
    parser.add_argument("--paced-rounds", type=int, default=20,
                        help="items each reviewer takes when reading each")
    parser.add_argument("--think", type=float, default=0.5,
                        help="mean seconds a reviewer reads an item (paced run)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.add > min(args.items, MAX_ADD):
        parser.error(f"--add must be at most --items and {MAX_ADD:,}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    log(f"load average {load:.2f} on {os.cpu_count()} cores")
    results = []
    for backend in args.backends.split(","):
        results.append(run_backend(backend.strip(), args, log))
    if args.json:
        print(json.dumps({"load_avg_1m": load, "args": vars(args), "results": results},
                         indent=1))
        return
    print(table(results, args))
    print(f"\nLoad average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
          f"{os.cpu_count()} cores; Python {sys.version.split()[0]}.")


if __name__ == "__main__":
    main()
