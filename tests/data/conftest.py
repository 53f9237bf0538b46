"""Fixtures of the gdmlkit.data tests: the reference data folder and rMD17 ethanol (BOTNet split)."""

from pathlib import Path

import pytest

from gdmlkit.data import load_dataset


@pytest.fixture(scope="session")
def shared_data():
    path = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"reference data folder {path} not available")
    return path


@pytest.fixture(scope="session")
def ethanol(shared_data):
    return load_dataset(shared_data / "molecules/botnet_ethanol/train.npz")
