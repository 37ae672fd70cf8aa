"""Supervisor tests: the web fixtures (tests/web/conftest.py)."""

from tests.web.conftest import make_client  # noqa: F401  (a fixture)
