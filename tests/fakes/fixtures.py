"""Pytest fixtures for the fakes (loaded for every test by ``pytest_plugins`` in conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.sendgrid_server import FakeSendGrid


@pytest.fixture
def sendgrid_server() -> Iterator[FakeSendGrid]:
    """A validating SendGrid stand-in on 127.0.0.1; its key is ``server.api_key``."""
    with FakeSendGrid() as server:
        yield server
