"""The measurements of benchmarks/nn_long.py (Fu et al. 2022's MD stability and h(r) error) against
cases with known answers: h(r) of fixed distances, the h(r) error of disjoint and equal histograms,
ethanol's bonds, a motionless run (stable throughout, zero h(r) error) and free flight at 500 K
(unstable at the first recorded frame); the validation frames that are not in train/test."""

import sys
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nn_long  # noqa: E402

from gdmlkit import load_example  # noqa: E402


class NoForces(Calculator):
    """E = 0, F = 0: atoms move freely."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def test_h_of_r_and_its_error():
    width = nn_long.HR_BINS[1] - nn_long.HR_BINS[0]
    two = np.array([[[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]]] * 3)  # one distance, 1.5 Å
    h = nn_long.h_of_r(two)
    k = np.searchsorted(nn_long.HR_BINS, 1.5) - 1
    assert h[k] == pytest.approx(1.0 / width) and np.count_nonzero(h) == 1  # a normalised density
    far = two * 2.0  # 3.0 Å: disjoint support, integral |h - h'| dr = 2
    assert nn_long.hr_error(h, nn_long.h_of_r(far)) == pytest.approx(2.0)
    assert nn_long.hr_error(h, h) == 0.0


def test_ethanol_bonds_are_the_eight_chemical_bonds():
    atoms = load_example("ethanol_test").to_atoms()[0]
    i, j = nn_long.bonds(atoms)
    pairs = sorted("".join(sorted(atoms.get_chemical_symbols()[a] + atoms.get_chemical_symbols()[b]))
                   for a, b in zip(i, j))
    assert pairs == ["CC", "CH", "CH", "CH", "CH", "CH", "CO", "HO"]


def _run(temperature, n_steps=200):
    atoms = load_example("ethanol_test").to_atoms()[0]
    ij = nn_long.bonds(atoms)
    R = atoms.positions[None]
    ref = np.linalg.norm(R[:, ij[0]] - R[:, ij[1]], axis=-1).mean(axis=0)
    return nn_long.md_run(NoForces(), atoms, ij, ref, nn_long.h_of_r(R), n_steps, temperature, seed=0)


def test_motionless_run_is_stable_with_the_reference_h_of_r():
    out = _run(temperature=1e-8)
    assert not out["unstable"]
    assert out["stable_ps"] == pytest.approx(200 * 0.5 / 1000)
    assert out["hr_error"] < 1e-9


def test_free_flight_at_500_K_is_unstable_at_the_first_frame():
    """Without forces, hydrogens at ~0.03 Å/fs leave their bond by 0.5 Å within the first 50 fs."""
    out = _run(temperature=500.0)
    assert out["unstable"]
    assert out["stable_ps"] == pytest.approx(nn_long.RECORD_EVERY * 0.5 / 1000)


def test_validation_frames_are_new_rmd17_frames():
    if not nn_long.EXTRA_FRAMES.exists():
        pytest.skip(f"{nn_long.EXTRA_FRAMES} not found")
    train, valid, test = nn_long.load(True)
    assert len(valid) == 96  # 4 of the 100 frames are also in the train or test set
    np.testing.assert_array_equal(valid.z, train.z)
    cc = np.linalg.norm(valid.R[:, 0] - valid.R[:, 1], axis=-1)  # atoms reordered to C C O H...: the C-C bond
    oh = np.linalg.norm(valid.R[:, 3:] - valid.R[:, 2:3], axis=-1).min(axis=1)  # and the O-H bond
    assert np.all((1.3 < cc) & (cc < 1.8)) and np.all((0.85 < oh) & (oh < 1.2))
    assert valid.energy_unit == "eV" and abs(np.mean(valid.E) - np.mean(train.E)) < 0.5


def test_training_in_chunks_stops_at_the_wall_time_and_resumes(tmp_path, monkeypatch):
    """--hours 0 trains one chunk; a later session continues to --max-epochs; a finished network is only loaded."""
    import argparse

    monkeypatch.setattr(nn_long, "NETWORKS", {"schnet": {"n_features": 8, "n_interactions": 1}})
    monkeypatch.setattr(nn_long, "CHUNK", 2)
    train = load_example("ethanol_train")[:8]
    args = argparse.Namespace(workdir=str(tmp_path), max_epochs=5, hours=0.0, valid_fraction=0.25, device="cpu",
                              progress=False)
    first, _ = nn_long.fit_network("schnet", train, None, args)
    assert first.n_epochs_ == 2
    args.hours = 1.0
    second, _ = nn_long.fit_network("schnet", train, None, args)
    assert [h["epoch"] for h in second.history_] == [1, 2, 3, 4, 5]
    third, _ = nn_long.fit_network("schnet", train, None, args)
    assert third.n_epochs_ == 5
    R = train.R[:2]
    np.testing.assert_array_equal(third.predict(R)[1], second.predict(R)[1])
