"""The assay command: demo and version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import assay
from assay import _runtime
from assay.cli import main
from assay.settings import Settings


def test_version(capsys: object) -> None:
    assert main(["version"]) == 0
    assert assay.__version__ in capsys.readouterr().out  # type: ignore[attr-defined]


def test_demo_records_a_realistic_experiment_and_can_run_twice(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/demo.db"
    for _ in range(2):  # the second run rebuilds the demo instead of doubling it
        out = subprocess.run([sys.executable, "-m", "assay.cli", "demo", "--tracking-uri", uri,
                              "--conversations", "12"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "Recorded" in out.stdout and "assay.get_trace('tr-" in out.stdout
    rt = _runtime.reset(Settings(tracking_uri=uri))
    try:
        traces = assay.AssayClient().search_traces(
            experiment_names=["assay-demo/rag-chatbot"], max_results=500)
        assert 12 <= len(traces) <= 36
        assert {t.info.session_id for t in traces} == {f"session-{i:03d}" for i in range(1, 13)}
        assert all(t.info.user_id and t.info.user_id.startswith("user-") for t in traces)
        assert all([s.span_type for s in t.data.spans] == ["CHAIN", "RETRIEVER", "CHAT_MODEL"]
                   for t in traces)
        assert all(t.info.token_usage for t in traces)
        names = {a.name for t in traces for a in t.info.assessments}
        assert "user_feedback" in names
    finally:
        _runtime.reset(Settings(tracking_uri="sqlite:///:memory:"))
        rt.close()


def test_demo_reports_a_bad_tracking_uri(capsys: object) -> None:
    assert main(["demo", "--tracking-uri", "mysql://x"]) == 2
    assert "mysql://x" in capsys.readouterr().err  # type: ignore[attr-defined]
