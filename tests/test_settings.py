"""``assay.settings`` is the one list of the ``ASSAY_*`` variables the SDK reads: nothing else
reads the environment, the README documents each of them, and bad values fall back."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

import assay
from assay import settings
from assay.settings import (
    ASSAY_API_KEY,
    ASSAY_HTTP_RETRY_SECONDS,
    api_key_from_env,
    http_retry_seconds_from_env,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(assay.__file__).resolve().parent
#: The modules that may read the environment: the SDK's settings and the server's (which
#: hands its settings to its worker processes as ASSAY_SERVER_* variables).
SETTINGS_MODULES = {PACKAGE / "settings.py", PACKAGE / "server" / "settings.py"}
_READS_ENVIRONMENT = re.compile(r"os\.environ\.get|os\.environ\[|os\.getenv|environ\.get\(")


def variables() -> set[str]:
    return {value for name, value in vars(settings).items()
            if name.startswith("ASSAY_") and isinstance(value, str)}


def test_only_the_settings_modules_read_the_environment() -> None:
    readers = {p for p in PACKAGE.rglob("*.py")
               if "examples" not in p.relative_to(PACKAGE).parts
               and _READS_ENVIRONMENT.search(p.read_text())}
    assert readers == SETTINGS_MODULES


def test_every_variable_is_documented_in_the_readme() -> None:
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1]
    documented = set(re.findall(r"`(ASSAY_[A-Z_]+)`", table.split("\n## ", 1)[0]))
    assert variables() == documented
    assert {ASSAY_API_KEY, ASSAY_HTTP_RETRY_SECONDS} <= variables()


def test_every_variable_the_code_names_is_a_setting() -> None:
    from assay.server import settings as server_settings

    server_variables = {value for name, value in vars(server_settings).items()
                        if name.startswith("ASSAY_SERVER_") and isinstance(value, str)}
    named: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "examples" not in path.relative_to(PACKAGE).parts:
            named |= set(re.findall(r"\bASSAY_[A-Z][A-Z_]*", path.read_text()))
    assert {ASSAY_API_KEY, ASSAY_HTTP_RETRY_SECONDS} <= named
    # Not variables: a metadata key's attribute (assay.version), the shell variable of the
    # API page's curl examples, the prefix of the server's variables.
    assert named - variables() - server_variables == {"ASSAY_VERSION", "ASSAY_URL",
                                                       "ASSAY_SERVER_"}


def test_the_retry_budget_falls_back_on_a_bad_value(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(ASSAY_HTTP_RETRY_SECONDS, raising=False)
    assert http_retry_seconds_from_env() == 30.0
    monkeypatch.setenv(ASSAY_HTTP_RETRY_SECONDS, "0.5")
    assert http_retry_seconds_from_env() == 0.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(ASSAY_HTTP_RETRY_SECONDS, bad)
        with caplog.at_level(logging.WARNING, logger="assay.settings"):
            assert http_retry_seconds_from_env() == 30.0
        assert f"Ignoring {ASSAY_HTTP_RETRY_SECONDS}={bad!r}" in caplog.text


def test_an_empty_api_key_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ASSAY_API_KEY, "")
    assert api_key_from_env() is None
    monkeypatch.setenv(ASSAY_API_KEY, "assay_k_s")
    assert api_key_from_env() == "assay_k_s"
