"""Shared fixtures: the reference datasets in ../shared/data and small ethanol problems."""

import logging
from pathlib import Path

import numpy as np
import pytest


def pytest_unconfigure(config):
    """Silence INFO logs at interpreter exit: torch logs compiler statistics then, after pytest
    has closed its streams ("Logging error ... I/O operation on closed file")."""
    logging.disable(logging.INFO)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

#: the 6 permutations sGDML finds for MD17 ethanol (atom order C C O H H H H H H)
ETHANOL_PERMS = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 4, 3, 5, 7, 6, 8], [0, 1, 2, 4, 3, 6, 5, 7, 8],
                          [0, 1, 2, 4, 3, 7, 6, 5, 8], [0, 1, 2, 3, 4, 7, 5, 6, 8], [0, 1, 2, 3, 4, 6, 7, 5, 8]])


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; tests that need it skip where it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"reference data folder {SHARED} not found")
    return SHARED


def load_shared_npz(shared_data, relpath, keys=("R", "z", "E", "F")):
    """Arrays `keys` of ../shared/data/`relpath` as a dict; skips the test if the file is missing."""
    path = shared_data / relpath
    if not path.exists():
        pytest.skip(f"{path} not found")
    with np.load(path) as f:
        return {k: f[k] for k in keys}


@pytest.fixture(scope="session")
def ethanol_ccsd(shared_data):
    """MD17 CCSD(T) ethanol (1000 geometries; kcal/mol and Å) as a dict of arrays."""
    return load_shared_npz(shared_data, "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz")


def emt_bcc_cu(n_frames, seed=0):
    """bcc Cu 16-atom supercell and `n_frames` thermally displaced copies labelled with ASE's EMT.

    Returns (atoms, R (n, 16, 3) Å, E (n,) eV, F (n, 16, 3) eV/Å).
    """
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)
    rng = np.random.default_rng(seed)
    R, E, F = [], [], []
    for _ in range(n_frames):
        a = atoms.copy()
        a.positions += rng.normal(scale=0.07, size=a.positions.shape)
        a.calc = EMT()
        R.append(a.positions)
        E.append(a.get_potential_energy())
        F.append(a.get_forces())
    return atoms, np.array(R), np.array(E), np.array(F)
