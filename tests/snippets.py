"""Code as a user runs it: :func:`readme_snippet` takes a code block out of README.md itself
(so a test of it cannot drift from what the README shows), and :func:`run_python` runs code
in a fresh process in an empty directory."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

__all__ = ["README", "readme_snippet", "run_python"]

README = Path(__file__).parents[1] / "README.md"

_HEADING = re.compile(r"^(#+) (.*)$")
_FENCE = "```"


def readme_snippet(heading: str, index: int = 0, language: str = "python") -> str:
    """The ``index``-th ``language`` code block of README.md's section titled ``heading``
    (up to the next heading of the same or a higher level)."""
    blocks: list[str] = []
    level = 0  # of the section being read; 0 before it
    block: list[str] | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if block is not None:
            if line.startswith(_FENCE):
                blocks.append("\n".join(block) + "\n")
                block = None
            else:
                block.append(line)
            continue
        if line.startswith(_FENCE):
            if level and line[len(_FENCE):].strip() == language:
                block = []
            continue
        match = _HEADING.match(line)
        if match is None:
            continue
        if match.group(2).strip() == heading:
            level = len(match.group(1))
        elif level and len(match.group(1)) <= level:
            break
    if level == 0:
        raise LookupError(f"README.md has no section {heading!r}")
    if index >= len(blocks):
        raise LookupError(f"README.md's section {heading!r} has {len(blocks)} {language} "
                          f"block(s), not {index + 1}")
    return blocks[index]


def run_python(code: str, cwd: Path,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` run by this Python in a new process in ``cwd``, with a bare environment (plus
    ``env``)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
