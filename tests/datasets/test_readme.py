"""The README's datasets example runs as written, into a new SQLite file."""

from __future__ import annotations

from pathlib import Path

import assay
from snippets import readme_snippet, run_python


def test_the_readme_datasets_example_runs_as_written(tmp_path: Path) -> None:
    # The assay under test, wherever it is imported from.
    source = str(Path(assay.__file__).resolve().parents[1])
    result = run_python(readme_snippet("Datasets: versioned questions and expectations"),
                        tmp_path, env={"PYTHONPATH": source})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2 2", "0.5", "2", "{'expected_response': 'Rome'}"]
