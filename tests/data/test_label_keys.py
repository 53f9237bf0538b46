"""load_dataset and the CLI read extxyz labels stored under other names (REF_energy, REF_forces)."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from gdmlkit.cli import main
from gdmlkit.data import load_dataset


@pytest.fixture()
def ref_keys_file(tmp_path):
    """Three water frames whose labels are only under REF_energy / REF_forces (eV, eV/Å)."""
    rng = np.random.default_rng(0)
    frames, E, F = [], rng.normal(size=3), rng.normal(size=(3, 3, 3))
    for i in range(3):
        a = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]] + rng.normal(scale=0.05, size=(3, 3)))
        a.info["REF_energy"] = E[i]
        a.arrays["REF_forces"] = F[i]
        frames.append(a)
    path = tmp_path / "water.extxyz"
    write(path, frames, format="extxyz")
    return path, E, F


def test_labels_under_other_keys(ref_keys_file):
    path, E, F = ref_keys_file
    ds = load_dataset(path, energy_key="REF_energy", forces_key="REF_forces")
    np.testing.assert_allclose(ds.E, E, rtol=1e-12)
    np.testing.assert_allclose(ds.F, F, atol=1e-7)  # extxyz writes 8 decimals
    assert (ds.energy_unit, ds.length_unit) == ("eV", "Ang")
    plain = load_dataset(path)  # without the keys the labels are not found
    assert plain.E is None and plain.F is None


def test_missing_key_names_what_the_file_has(ref_keys_file):
    path, _, _ = ref_keys_file
    with pytest.raises(ValueError, match=r"no energy under 'energy'.*\['REF_energy'\]"):
        load_dataset(path, energy_key="energy")
    with pytest.raises(ValueError, match=r"no forces under 'forces'.*REF_forces"):
        load_dataset(path, forces_key="forces")


def test_keys_refused_for_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, R=np.zeros((1, 2, 3)), z=[1, 1])
    with pytest.raises(ValueError, match="npz file, whose layouts fix the key names"):
        load_dataset(path, energy_key="REF_energy")


def test_cli_reads_the_keys(ref_keys_file, capsys):
    path, _, _ = ref_keys_file
    assert main(["info", str(path), "--energy-key", "REF_energy", "--forces-key", "REF_forces"]) == 0
    out = capsys.readouterr().out
    assert "n_samples=3" in out and "labels='E+F'" in out
