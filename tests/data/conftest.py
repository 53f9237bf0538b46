"""Fixtures of the gdmlkit.data tests: rMD17 ethanol (BOTNet split) as shipped in data/ (``shared_data``, the
reference data folder, is in tests/conftest.py)."""

import pytest

from gdmlkit.data import load_example


@pytest.fixture(scope="session")
def ethanol():
    """data/ethanol_rmd17_train.npz (eV, Å): bit-identical to the BOTNet train set, see test_example_matches_source."""
    return load_example("ethanol_train")
