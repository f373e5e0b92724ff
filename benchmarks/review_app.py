"""The review app in a real browser: how long after Enter the next item is there, and how
long an item page takes to load, with a session of 1,000 items.

The SQLite file holds ``--items`` traces of a RAG chatbot written with ``@assay.trace`` (a
chat request, a retriever span with three documents, the answer; two-turn conversations; an
end user's thumbs on one in three), all items of one session asking four questions
(categorical, pass/fail, a 1-5 number, and a text with a comment box), open to any reviewer.
A real ``assay server`` (auth off) serves it on 127.0.0.1, on a free port, and headless
Chromium (Debian's, at ``--chromium``) reviews it at 1440x900:

* **Enter to the next item**: on an item, the reviewer presses ``1`` (the first option of
  the focused first question) then ``Enter``; timed in the page from the ``keydown`` of
  Enter to the next item's first question taking focus (the answers posted, the next
  item's HTML, which comes back with the answer, swapped in; no page load), and to the
  next frame after that. The first ``--warmup`` items are not counted. The POST is timed
  by the browser's Resource Timing too.
* **Item page load**: a full navigation to an item (``page.goto``): the response's first
  byte, DOMContentLoaded, load, and the first question's focus, from the Navigation
  Timing of the page.
* **Server time**: the item page, its fragment and its JSON twin, and the session page,
  over HTTP with a warm connection (a loopback round trip included).

    .venv/bin/python benchmarks/review_app.py                      # 1,000 items, 30 timed
    .venv/bin/python benchmarks/review_app.py --items 1000 --submits 30 --db /tmp/r.db --keep

Nothing here asserts a timing; it prints figures (and the machine's load average, since the
machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import httpx  # noqa: E402

import assay  # noqa: E402
from assay.entities import AssessmentSource, Feedback, SpanType  # noqa: E402
from assay.entities.label_schema import (  # noqa: E402
    InputCategorical,
    InputNumeric,
    InputPassFail,
    InputText,
    LabelSchema,
    LabelSchemaType,
)
from assay.entities.labeling import LabelingSessionInfo  # noqa: E402
from assay.entities.run import new_run_id  # noqa: E402
from assay.store.sql import SqlStore  # noqa: E402

EXPERIMENT = "bench-review"
SESSION_NAME = "bench: review app"
REVIEWER = "bench-reviewer@example.com"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TOPICS = ["refunds", "shipping times", "password resets", "invoices", "API rate limits",
          "data export", "team seats", "two-factor sign-in", "webhooks", "the free plan"]

# Installed in every page: the time from Enter's keydown to the next item's first question
# taking focus (and to the frame after it), and a full load's first-question focus.
_PROBE = """
(() => {
  const b = window.__bench = {start: 0, from: null, focus: null, frame: null, firstFocus: null};
  const first = () => {
    const item = document.getElementById("review-item");
    return item ? item.querySelector("[data-question]") : null;
  };
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const item = document.getElementById("review-item");
    b.start = performance.now(); b.from = item && item.dataset.itemUrl;
    b.focus = null; b.frame = null;
  }, true);
  document.addEventListener("focusin", (e) => {
    const q = first();
    if (!q || !q.contains(e.target)) return;
    if (b.firstFocus === null) b.firstFocus = performance.now();
    const item = document.getElementById("review-item");
    if (!b.start || b.focus !== null || item.dataset.itemUrl === b.from) return;
    b.focus = performance.now() - b.start;
    requestAnimationFrame(() => setTimeout(() => { b.frame = performance.now() - b.start; }, 0));
  }, true);
})();
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fill(uri: str, items: int) -> None:
    """The chatbot's traces, through the SDK, then the schemas and the session."""
    assay.set_tracking_uri(uri)
    experiment_id = assay.set_experiment(EXPERIMENT).experiment_id

    @assay.trace(span_type=SpanType.RETRIEVER)
    def retrieve(query: str) -> list[dict[str, Any]]:
        return [{"id": f"doc-{n}", "page_content": f"From the help centre about {query}: "
                 + "the steps, the limits and who to ask. " * 4,
                 "metadata": {"source": f"help/{n}.md", "score": round(0.9 - n / 10, 2)}}
                for n in range(3)]

    @assay.trace(name="rag_chatbot", span_type=SpanType.CHAIN)
    def chatbot(messages: list[dict[str, str]], n: int) -> str:
        assay.update_current_trace(session_id=f"s-{n // 2}", user=f"user-{n % 37}")
        topic = TOPICS[n % len(TOPICS)]
        documents = retrieve(messages[-1]["content"])
        return (f"About {topic}: open Settings, then {topic.title()}; "
                f"{len(documents)} help articles say the same. " * 3).strip()

    for n in range(items):
        topic = TOPICS[n % len(TOPICS)]
        question = (f"How do I change {topic}?" if n % 2 == 0
                    else f"And what are the limits for {topic} on my plan?")
        chatbot([{"role": "user", "content": question}], n)
    assay.flush_trace_async_logging()
    store = SqlStore(uri)
    ids = [t.info.trace_id for t in store.search_traces(
        [experiment_id], max_results=items, include_spans=False,
        order_by=["timestamp_ms ASC"])]
    for n, trace_id in enumerate(ids):
        if n % 3 == 0:
            store.log_assessment(Feedback(
                name="user_feedback", value=n % 2 == 0, trace_id=trace_id,
                source=AssessmentSource("HUMAN", f"user-{n % 37}"),
                rationale=None if n % 2 == 0 else "It did not answer my question"))
    schemas = (
        LabelSchema("accuracy", LabelSchemaType.FEEDBACK,
                    InputCategorical(["Accurate", "Partially accurate", "Inaccurate"]),
                    title="Is the response factually accurate?",
                    instruction="Judge against the retrieved documents."),
        LabelSchema("helpful", LabelSchemaType.FEEDBACK,
                    InputPassFail("Helpful", "Not helpful"),
                    title="Would this answer help the user?"),
        LabelSchema("rating", LabelSchemaType.FEEDBACK, InputNumeric(1, 5),
                    title="Overall quality, 1 to 5"),
        LabelSchema("expected_response", LabelSchemaType.EXPECTATION, InputText(2000),
                    title="What would be the ideal response?", enable_comment=True),
    )
    for schema in schemas:
        store.create_label_schema(LabelSchema(
            schema.name, schema.type, schema.input, title=schema.title,
            instruction=schema.instruction, enable_comment=schema.enable_comment,
            experiment_id=experiment_id))
    run_id = new_run_id()
    store.create_labeling_session(LabelingSessionInfo(
        run_id=run_id, experiment_id=experiment_id, name=SESSION_NAME,
        label_schemas=tuple(s.name for s in schemas),
        instructions="Read the question and the answer, then judge the answer alone."))
    store.add_labeling_items(run_id, ids)
    store.close()


def start_server(uri: str, port: int) -> subprocess.Popen[bytes]:
    """``assay server`` in its own process: the installed command next to this Python, or
    the same entry point through the interpreter."""
    command = Path(sys.executable).with_name("assay")
    prefix = [str(command)] if command.exists() else [
        sys.executable, "-c", "import sys; from assay.cli import main; sys.exit(main())"]
    return subprocess.Popen(
        [*prefix, "server", "--backend-store-uri", uri, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})


def wait_ready(http: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if http.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50_ms": statistics.median(ordered), "p95_ms": at(0.95),
            "min_ms": ordered[0], "max_ms": ordered[-1]}


def show(name: str, figures: dict[str, float]) -> None:
    print(f"  {name:50} p50 {figures['p50_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms   "
          f"min {figures['min_ms']:6.1f}   max {figures['max_ms']:7.1f}   (n={figures['n']})")


def sign_in(http: httpx.Client, name: str = REVIEWER) -> str:
    """Give the review app the reviewer's name (auth off): its cookie is then kept. Returns
    the page's CSRF token."""
    page = http.get("/review", headers={"Accept": "text/html"})
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:300]
    kept = http.post("/review/reviewer", data={"name": name, "next": "/review",
                                               "csrf_token": match.group(1)})
    assert kept.status_code == 303, kept.text[:300]
    return match.group(1)


def server_times(base: str, run_id: str, trace_ids: list[str],
                 reps: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base, timeout=60) as http:
        sign_in(http)
        item = f"/review/{run_id}/items/{trace_ids[len(trace_ids) // 2]}"
        pages = {"item page (HTML)": item, "item fragment (what ←, → and Back fetch)":
                 item + "?fragment=1", "item as JSON": item + ".json",
                 "session page": f"/review/{run_id}"}
        for name, path in pages.items():
            for _ in range(3):
                http.get(path, headers={"Accept": "text/html"}).raise_for_status()
            samples = []
            for _ in range(reps):
                started = time.perf_counter()
                http.get(path, headers={"Accept": "text/html"}).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = quantiles(samples)
    # What Enter does, without the browser: answers in, the next item's HTML out (as
    # another reviewer, so that the browser's items are not taken).
    with httpx.Client(base_url=base, timeout=60) as http:
        token = sign_in(http, "bench-http@example.com")
        json_headers = {"Accept": "application/json", "X-CSRF-Token": token}
        found = http.post(f"/review/{run_id}/next", headers=json_headers).json()["trace_id"]
        samples = []
        for number in range(reps + 3):
            started = time.perf_counter()
            answer = http.post(f"/review/{run_id}/items/{found}?fragment=1",
                               data={"csrf_token": token, "a0": "Accurate", "a1": "pass"},
                               headers=json_headers)
            elapsed = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            found = answer.json()["trace_id"]
            assert found and answer.json()["html"]
            if number >= 3:
                samples.append(elapsed)
        results["submit and next item (POST ?fragment=1)"] = quantiles(samples)
    return results


def browser_times(base: str, run_id: str, trace_ids: list[str], chromium: str,
                  submits: int, warmup: int, loads: int) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_init_script(_PROBE)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{base}/review/reviewer")
        page.get_by_label("Your name or e-mail").fill(REVIEWER)
        page.get_by_role("button", name="Continue").click()
        page.goto(f"{base}/review/{run_id}")
        page.get_by_role("button", name=re.compile("Start|Continue")).click()
        page.wait_for_selector("#review-item")
        loads_seen: list[str] = []
        page.on("load", lambda p: loads_seen.append(p.url))
        focus: list[float] = []
        frame: list[float] = []
        posts: list[float] = []
        fragments: list[float] = []
        for number in range(warmup + submits):
            page.evaluate("performance.clearResourceTimings()")
            before = page.get_attribute("#review-item", "data-item-url")
            page.wait_for_function(
                "document.activeElement && document.activeElement.closest('[data-question]')")
            page.keyboard.press("1")
            page.keyboard.press("Enter")
            page.wait_for_function("window.__bench.frame !== null")
            after = page.get_attribute("#review-item", "data-item-url")
            assert after != before, (before, after)
            probe = page.evaluate("window.__bench")
            resources = page.evaluate(
                "performance.getEntriesByType('resource').map(e => "
                "({name: e.name, duration: e.duration, type: e.initiatorType}))")
            if number < warmup:
                continue
            focus.append(probe["focus"])
            frame.append(probe["frame"])
            for entry in resources:  # the POST goes to this item, a fragment GET to the next
                if entry["type"] != "fetch":
                    continue
                if entry["name"].split("?")[0].endswith(str(before)):
                    posts.append(entry["duration"])
                elif "fragment=1" in entry["name"]:
                    fragments.append(entry["duration"])
        assert not loads_seen, f"a full page load happened: {loads_seen}"
        results["Enter to the next item's first question focused"] = quantiles(focus)
        results["Enter to the next frame after that"] = quantiles(frame)
        results["  of which: the POST (answers in, next item out)"] = quantiles(posts)
        if fragments:  # a server that does not send the next item with the answer
            results["  of which: the next item's fragment"] = quantiles(fragments)
        # Full loads of item pages.
        ttfb: list[float] = []
        dcl: list[float] = []
        load: list[float] = []
        focused: list[float] = []
        for trace_id in trace_ids[-(loads + 2):]:
            page.goto(f"{base}/review/{run_id}/items/{trace_id}", wait_until="load")
            page.wait_for_function("window.__bench.firstFocus !== null")
            timing = page.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0]; return "
                "{ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, "
                "load: n.loadEventEnd, focus: window.__bench.firstFocus}; })()")
            ttfb.append(timing["ttfb"])
            dcl.append(timing["dcl"])
            load.append(timing["load"])
            focused.append(timing["focus"])
        # The first two warm the browser's cache of the scripts and styles.
        results["item page: first byte (navigation start)"] = quantiles(ttfb[2:])
        results["item page: DOMContentLoaded"] = quantiles(dcl[2:])
        results["item page: load event"] = quantiles(load[2:])
        results["item page: first question focused"] = quantiles(focused[2:])
        context.close()
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--submits", type=int, default=30, help="items submitted and timed")
    parser.add_argument("--warmup", type=int, default=3, help="items submitted, not timed")
    parser.add_argument("--loads", type=int, default=15, help="full item page loads timed")
    parser.add_argument("--reps", type=int, default=30, help="server-time requests a page")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="assay-bench-review-")
        args.db = Path(folder.name) / "review.db"
    uri = f"sqlite:///{args.db}"
    if not args.db.exists():
        started = time.perf_counter()
        log(f"Filling {args.db}: {args.items:,} traced items")
        fill(uri, args.items)
        log(f"  filled in {time.perf_counter() - started:.0f} s")
    store = SqlStore(uri)
    experiment = store.find_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (info,) = [s for s in store.list_labeling_sessions([experiment.experiment_id])
               if s.name == SESSION_NAME]
    run_id = info.run_id
    trace_ids = [t.info.trace_id for t in store.search_traces(
        [experiment.experiment_id], max_results=args.items, include_spans=False,
        run_id=run_id, order_by=["timestamp_ms ASC"])]
    progress = store.get_labeling_progress(run_id)
    store.close()
    if progress.items - progress.done_items < args.submits + args.warmup:
        raise SystemExit("too few items left to review in this file: use a fresh --db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(uri, port)
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            wait_ready(http, server)
        load_before = os.getloadavg()
        print(f"{progress.items:,} items in the session, {progress.done_items:,} done; "
              f"load average {load_before[0]:.2f} on {os.cpu_count()} cores")
        print("In the browser (headless Chromium, 1440x900):")
        browser = browser_times(base, run_id, trace_ids, args.chromium, args.submits,
                                args.warmup, args.loads)
        for name, figures in browser.items():
            show(name, figures)
        print("Server time over HTTP (a warm connection, loopback):")
        server_side = server_times(base, run_id, trace_ids, args.reps)
        for name, figures in server_side.items():
            show(name, figures)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        results = {"browser": browser, "server": server_side,
                   "load_average": [load_before[0], os.getloadavg()[0]]}
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
