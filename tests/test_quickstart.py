"""The README's tracing snippet runs as written (taken from README.md itself), in a fresh
process; what is queued at exit is written; a bad tracking URI says what is accepted."""

from __future__ import annotations

import re
from pathlib import Path

from genai.judge_server import JudgeServer
from snippets import readme_snippet, run_python

# "Tracing in five lines", exactly as README.md shows it.
SNIPPET = readme_snippet("Tracing in five lines")

CHECKS = '''
assert trace is not None
assert [s.name for s in trace.data.spans] == ["my_chatbot", "retrieve_context"]
assert trace.data.spans[1].span_type == "RETRIEVER"
assert trace.info.client_request_id == "req-abc-123"
assert trace.info.session_id == "session-1" and trace.info.user_id == "user-jane"
assert trace.info.trace_metadata["environment"] == "production"
assert trace.info.request_preview == "What is MLflow?"
exp = assay.get_experiment_by_name("/Shared/production-app")
assert exp is not None and trace.info.experiment_id == exp.experiment_id
print("OK", trace.info.trace_id)
'''


def test_readme_snippet_runs_as_written_into_the_default_sqlite_file(tmp_path: Path) -> None:
    result = run_python(SNIPPET + CHECKS, tmp_path)
    assert result.returncode == 0, result.stderr
    printed, checked = result.stdout.splitlines()
    assert printed == "What is MLflow? ['my_chatbot', 'retrieve_context']"  # the README's print
    assert checked.startswith("OK tr-")
    assert (tmp_path / "assay.db").exists()
    # A second process sees the same experiment and trace.
    trace_id = checked.split()[1]
    again = run_python(f'''
import assay
t = assay.get_trace({trace_id!r})
assert t is not None and len(t.data.spans) == 2
print(assay.get_experiment_by_name("/Shared/production-app").experiment_id)
''', tmp_path)
    assert again.returncode == 0, again.stderr


def test_traces_queued_at_exit_are_written(tmp_path: Path) -> None:
    result = run_python('''
import assay
assay.set_experiment("exit-test")

@assay.trace
def f(i):
    return i

for i in range(500):
    f(i)
''', tmp_path)
    assert result.returncode == 0, result.stderr
    check = run_python('''
import assay
exp = assay.get_experiment_by_name("exit-test")
client = assay.AssayClient()
n, token = 0, None
while True:
    page = client.search_traces([exp.experiment_id], max_results=200, page_token=token,
                                include_spans=False)
    n += len(page)
    token = page.token
    if not token:
        break
print(n)
''', tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "500"


def test_a_bad_tracking_uri_names_itself_and_what_is_accepted(tmp_path: Path) -> None:
    result = run_python('''
import assay
try:
    assay.set_tracking_uri("mysql://user:hunter2@db/x")
except ValueError as e:
    print(e)
''', tmp_path)
    assert "mysql://user:***@db/x" in result.stdout
    assert "hunter2" not in result.stdout
    assert "sqlite:///" in result.stdout and "postgresql://" in result.stdout


def test_the_readme_expert_review_example_runs_as_written(tmp_path: Path) -> None:
    snippet = readme_snippet("Expert review: label schemas and labeling sessions")
    result = run_python(snippet, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Share this link with reviewers: http://127\.0\.0\.1:5000/review/"
                        r"[0-9a-f]{32}", lines[0]), lines
    assert lines[1:] == ["1 item(s) reviewed by both", "0.0", "Partially Accurate"]


def test_the_readme_evaluation_example_runs_as_written(tmp_path: Path) -> None:
    judge = JudgeServer()
    judge.start()
    try:
        result = run_python(readme_snippet("Evaluation: scorers, LLM judges and runs"),
                            tmp_path, env={"OPENAI_BASE_URL": judge.base_url,
                                           "OPENAI_API_KEY": "sk-test"})
    finally:
        judge.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1.0", "0.5", "2"]
    assert {r["model"] for r in judge.requests} == {"gpt-4.1-mini"}  # the default model
    assert len(judge.requests) == 4  # two judges, two rows


def test_the_readme_comparison_example_runs_as_written(tmp_path: Path) -> None:
    snippet = readme_snippet("Comparing runs, and checking a judge against the experts")
    result = run_python(snippet, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Candidate run [0-9a-f]{32} vs baseline run [0-9a-f]{32}: 20 "
                        r"shared rows \(baseline 20, candidate 20\)", lines[0]), lines
    [row] = [line for line in lines if line.startswith("mentions_paris ")]
    assert row.split()[1:5] == ["20", "0.400", "0.900", "+0.500"]
    assert "0 pass→fail, 10 fail→pass" in row
    assert lines[-2:] == ["10 0 0.001953125", "((1, 6), (1, 12)) 0.65"]
