"""The planted library, indexed once per test session (tests copy it before they change it)."""

from __future__ import annotations

import pytest

from tests.engine.library.improve.planted import make_planted


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """See ``planted.make_planted``."""
    return make_planted(tmp_path_factory.mktemp("planted"))
