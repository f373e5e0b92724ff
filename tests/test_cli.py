"""The assay command: demo and version."""

from __future__ import annotations

import assay
from assay.cli import main


def test_version(capsys: object) -> None:
    assert main(["version"]) == 0
    assert assay.__version__ in capsys.readouterr().out  # type: ignore[attr-defined]


def test_demo_reports_a_bad_tracking_uri(capsys: object) -> None:
    assert main(["demo", "--tracking-uri", "mysql://x"]) == 2
    assert "mysql://x" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_demo_refuses_no_conversations(capsys: object) -> None:
    assert main(["demo", "--tracking-uri", "sqlite:///:memory:", "--conversations", "0",
                 "--no-serve"]) == 2
    assert "--conversations" in capsys.readouterr().err  # type: ignore[attr-defined]
