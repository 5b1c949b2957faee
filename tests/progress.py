"""A pytest plugin for ``scripts/test``: name each slow test as it finishes.

With ``-q`` a full run is minutes of dots; this prints ``slow: <test id> <seconds> s`` on its own
line for every test whose setup, call and teardown took at least ``SLOW_SECONDS`` together, so a
person watching sees where the time goes (``--durations`` sums it up at the end). Loaded with
``-p tests.progress``.
"""

from __future__ import annotations

import pytest

SLOW_SECONDS = 5.0


class SlowTests:
    def __init__(self, reporter) -> None:
        self.reporter = reporter
        self.spent: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.spent[report.nodeid] = self.spent.get(report.nodeid, 0.0) + report.duration
        if report.when == "teardown" and (seconds := self.spent.pop(report.nodeid)) >= SLOW_SECONDS:
            self.reporter.write("\n")  # after the progress dots of -q
            self.reporter.write_line(f"slow: {report.nodeid} {seconds:.1f} s", yellow=True)


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config: pytest.Config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        config.pluginmanager.register(SlowTests(reporter), "irqa-slow-tests")
