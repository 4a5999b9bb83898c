"""Hypothesis profiles for the property tests.

* ``ci`` (the default): derandomized, so every run of the suite tries the same examples and a
  failure in CI reproduces on a laptop; no example database is read or written.
* ``thorough``: random seeds and ten times the examples, for a longer hunt before a release or
  after changing an adapter or the policy engine::

      HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/adapters tests/policy tests/api/test_no_500s.py

Tests state their example counts for the ``ci`` profile through :func:`examples`, which scales
them by the loaded profile, so ``thorough`` lengthens every property test without editing it.
"""

from __future__ import annotations

import os

from hypothesis import settings

CI_EXAMPLES = 100
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, print_blob=True)
settings.register_profile("thorough", max_examples=CI_EXAMPLES * 10, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(ci_count: int) -> int:
    """``ci_count`` examples under the ``ci`` profile, proportionally more under ``thorough``."""
    return max(1, ci_count * settings.default.max_examples // CI_EXAMPLES)
