import numpy as np
import pytest

from wdcompanion import claims

_REGISTERED_RUN = claims.Claim.run  # before any test patches it


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_run():
    """``small_run(claim_id)``: the claim's registered small-scale run, computed once per test session.

    For tests that only read a run's result (it passes, the CLI prints and records it). Planted-bug
    tests patch the library and must run the check themselves.
    """
    cache: dict[str, object] = {}

    def run(claim_id: str):
        if claim_id not in cache:
            cache[claim_id] = _REGISTERED_RUN(claims.get_claim(claim_id), "small")
        return cache[claim_id]

    return run


@pytest.fixture
def cached_claims(monkeypatch, small_run):
    """Make every registered claim's small-scale ``run`` return the session's shared run."""
    def run(self, scale="small"):
        return small_run(self.id) if scale == "small" else _REGISTERED_RUN(self, scale)

    monkeypatch.setattr(claims.Claim, "run", run)
