"""The real server against our fake AMI server: the web fixtures (tests/web/conftest.py)."""

from tests.web.conftest import fake_pbx, make_client, pbx_client  # noqa: F401  (fixtures)
