"""Shared fixtures: the shipped rMD17 ethanol (data/), the reference datasets in ../shared/data, a small ethanol
kernel system and a bcc Cu crystal with fitted BIGDML models. Helpers that tests import are in helpers.py.

Core tests run on the shipped data/ files, so that they run in a plain clone; only tests that need a file that is
not shipped use ``shared_data`` and skip without it (GDMLKIT_SHARED_DATA=/nonexistent simulates a plain clone)."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from gdmlkit import BIGDMLRegressor, Dataset, load_example
from gdmlkit.kernels.operator import HessianKernelOperator
from gdmlkit.symmetry import permutation_desc_index

from helpers import ETHANOL_PERMS, emt_bcc_cu


def pytest_unconfigure(config):
    """Silence INFO logs at interpreter exit: torch logs compiler statistics then, after pytest
    has closed its streams ("Logging error ... I/O operation on closed file")."""
    logging.disable(logging.INFO)


#: the reference data folder: $GDMLKIT_SHARED_DATA if set (point it at a missing folder to run the suite as in
#: a plain clone), else ../shared/data beside the repository
SHARED = Path(os.environ.get("GDMLKIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; tests that need it skip where it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"reference data folder {SHARED} not found")
    return SHARED


@pytest.fixture(scope="session")
def ethanol_rmd17():
    """The shipped rMD17 ethanol (data/ethanol_rmd17_train.npz, 1000 geometries, PBE/def2-SVP), converted from
    eV to kcal/mol (Å), as a dict of arrays R, z, E (n, 1), F: the layout and units of the MD17 sGDML files,
    so thresholds in kcal/mol keep their meaning. Atom order C C O H H H H H H, as in MD17."""
    ds = load_example("ethanol_train").to_units(energy_unit="kcal/mol", length_unit="Ang")
    return {"R": ds.R, "z": ds.z, "E": ds.E[:, None], "F": ds.F}


@pytest.fixture(scope="module")
def system(ethanol_rmd17):
    """A real ethanol problem: 60 geometries of the shipped rMD17 ethanol in kcal/mol (n = 1620), sigma 10,
    lam 1e-6."""
    d = ethanol_rmd17
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
