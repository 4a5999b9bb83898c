"""Fixtures of the fault suite: the API fixtures (tests/conftest.py) and one loaded person."""
from __future__ import annotations

from tests.api.conftest import Loaded, loaded  # noqa: F401  (re-exported fixture)
