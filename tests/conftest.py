"""Shared fixtures: every test gets a private model cache; trained models are shared within the session."""

import pytest


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, session_cache):
    monkeypatch.setenv("PRIVBENCH_CACHE_DIR", str(session_cache))
    monkeypatch.delenv("PRIVBENCH_DISABLE_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def session(session_cache):
    """A harness session over the installed plugins, CPU, sharing the session's model cache."""
    from bench.testing import make_session

    return make_session(cache_dir=session_cache)
