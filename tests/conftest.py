"""Shared fixtures: the reference datasets in ../shared/data, a small ethanol kernel system and a bcc Cu
crystal with fitted BIGDML models. Helpers that tests import are in helpers.py."""

import logging
from pathlib import Path

import numpy as np
import pytest

from gdmlkit import BIGDMLRegressor, Dataset
from gdmlkit.kernels.operator import HessianKernelOperator
from gdmlkit.symmetry import permutation_desc_index

from helpers import ETHANOL_PERMS, emt_bcc_cu, load_shared_npz


def pytest_unconfigure(config):
    """Silence INFO logs at interpreter exit: torch logs compiler statistics then, after pytest
    has closed its streams ("Logging error ... I/O operation on closed file")."""
    logging.disable(logging.INFO)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; tests that need it skip where it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"reference data folder {SHARED} not found")
    return SHARED


@pytest.fixture(scope="session")
def ethanol_ccsd(shared_data):
    """MD17 CCSD(T) ethanol (1000 geometries; kcal/mol and Å) as a dict of arrays."""
    return load_shared_npz(shared_data, "molecules/md17_ccsd_t/ethanol_ccsd_t-train.npz")


@pytest.fixture(scope="module")
def system(ethanol_ccsd):
    """A real ethanol problem: 60 geometries (n = 1620), sigma 10, lam 1e-6."""
    d = ethanol_ccsd
    op = HessianKernelOperator(d["R"][:60], permutation_desc_index(ETHANOL_PERMS), 10.0, lam=1e-6,
                               backend="torch")
    K = op.to_dense()
    b = d["F"][:60].ravel()
    L = np.linalg.cholesky(K)
    x_ref = np.linalg.solve(L.T, np.linalg.solve(L, b))
    return op, K, b, x_ref


@pytest.fixture(scope="module")
def bcc_cu():
    """16-atom bcc Cu supercell (space group of 768 operations) with EMT labels, eV and Å."""
    atoms, R, E, F = emt_bcc_cu(8)
    ds = Dataset(R, atoms.numbers, E, F, energy_unit="eV", length_unit="Ang", cell=atoms.cell.array, pbc=True)
    return atoms, ds


@pytest.fixture(scope="module")
def models(bcc_cu):
    """BIGDML models on 5 bcc Cu geometries: with the full space group (768 permutations), and without."""
    atoms, ds = bcc_cu
    sym = BIGDMLRegressor(sigma=0.5, perms="full", reference=atoms.positions, max_perms=1000).fit(ds[:5])
    plain = BIGDMLRegressor(sigma=0.5, perms="none").fit(ds[:5])
    return sym, plain
