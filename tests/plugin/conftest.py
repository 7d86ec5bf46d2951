"""The shared fixture of the apizr backend's RuleRunner tests (the set-up is in helpers.py)."""

from __future__ import annotations

import pytest
from pants.testutil.rule_runner import RuleRunner

from plugin.helpers import make_rule_runner


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    """One RuleRunner per test module: the tools' PEX is built once and its results memoized."""
    return make_rule_runner()
