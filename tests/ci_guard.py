"""A pytest plugin that makes CI's output prove which backends were tested.

It prints how many tests passed on each `backend` (SQLite + in-process state, PostgreSQL + Redis)
and where PostgreSQL and Redis were found. With CI=true a skipped test fails: a green CI run must
mean every test ran, not that the PostgreSQL half quietly skipped itself.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator

import pytest

from tests import throwaway

BACKEND_LABELS = {"sqlite": "SQLite + in-process state", "postgres": "PostgreSQL + Redis"}

_passed: Counter[str] = Counter()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true allows no skips): {reason}"
    if report.when == "call" and report.passed:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec else ()
        backend = next((p for p in params if isinstance(p, str) and p in BACKEND_LABELS), None)
        if backend:
            _passed[backend] += 1
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _passed and not throwaway.in_use:
        return
    terminalreporter.section("backends")
    for backend, label in BACKEND_LABELS.items():
        terminalreporter.write_line(f"{label} [{backend}]: {_passed[backend]} passed")
    for service, where in sorted(throwaway.in_use.items()):
        terminalreporter.write_line(f"{service}: {where}")
