"""The ideal reference found from thermal snapshots (find_reference): the space group of the ideal crystal
recovered from displaced, drifting, shuffled frames (against spglib on the exact structure), each found
operation mapping the ideal crystal onto itself, liquid and amorphous input refused with the reason, and
the real mlearn Si block (slow, skipped without ../shared/data)."""

import numpy as np
import pytest
import spglib
from ase.build import bulk

from gdmlkit import find_spacegroup_symmetry
from gdmlkit.symmetry import NoLatticeSymmetryError, find_reference

CRYSTALS = {
    "bcc Cu 2x2x2": (lambda: bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2), 0.1),
    "rocksalt NaCl": (lambda: bulk("NaCl", "rocksalt", a=5.64, cubic=True), 0.15),
    "diamond Si 2x2x2": (lambda: bulk("Si", "diamond", a=5.43, cubic=True).repeat(2), 0.12),
}


def _snapshots(atoms, n, scale, seed=0):
    """n frames of the crystal with atoms in a random order, Gaussian displacements of `scale` Å per
    component, a random drift of the whole frame and atoms wrapped into the cell; plus the order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(atoms))
    ideal = atoms.positions[order]
    R = ideal + rng.normal(scale=scale, size=(n,) + ideal.shape) + rng.normal(scale=0.3, size=(n, 1, 3))
    cell = atoms.cell.array
    frac = R @ np.linalg.inv(cell)
    return (frac - np.floor(frac)) @ cell, ideal, atoms.numbers[order]


@pytest.mark.parametrize("name", list(CRYSTALS))
def test_reference_from_snapshots_recovers_the_ideal_crystal_and_its_space_group(name):
    build, scale = CRYSTALS[name]
    atoms = build()
    cell = atoms.cell.array
    R, ideal, z = _snapshots(atoms, 6, scale)
    found = find_reference(R, z, cell)
    exact = spglib.get_symmetry_dataset((cell, atoms.get_scaled_positions(), atoms.numbers))
    assert found.group.number == exact.number and found.group.international == exact.international
    assert found.group.n_operations == len(exact.rotations)
    assert len(found.frames) == 6 and found.n_input_frames == 6
    # the sites are the ideal crystal up to one rigid shift, closer than the thermal noise
    d = found.positions - ideal
    frac = d @ np.linalg.inv(cell)
    d = (frac - np.round(frac)) @ cell
    shift = d.mean(0)
    assert np.abs(d - shift).max() < 1e-8
    assert found.max_site_deviation < 4 * scale
    # the permutations are those spglib gives for the exact ideal crystal in the data's atom order
    truth = find_spacegroup_symmetry(ideal, z, cell)
    assert np.array_equal(np.unique(found.group.perms, axis=0), np.unique(truth.perms, axis=0))
    # independent check: each operation (rotation, translation, permutation) maps the ideal crystal onto itself
    shifted = ideal + shift
    M = found.group.cartesian_rotations()
    t = found.group.translations @ cell
    for p, Mk, tk in zip(found.group.perms, M, t):
        moved = (shifted @ Mk + tk)[p] - shifted
        f = moved @ np.linalg.inv(cell)
        assert np.abs((f - np.round(f)) @ cell).max() < 1e-8


def test_frames_of_another_phase_are_left_out_of_the_reference():
    atoms = bulk("Cu", "bcc", a=2.9, cubic=True).repeat(2)
    R, _, z = _snapshots(atoms, 5, 0.08)
    liquid = np.random.default_rng(1).uniform(0, 5.8, size=(3, len(atoms), 3))
    found = find_reference(np.concatenate([R[:2], liquid, R[2:]]), z, atoms.cell.array)
    assert found.frames.tolist() == [0, 1, 5, 6, 7] and found.group.size == 768
    assert found.summary()["reference"] == "mean of 5 of 8 training frames"


def test_liquid_and_amorphous_input_are_refused_with_the_reason():
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 8.0
    z = np.full(20, 29)
    liquid = rng.uniform(0, 8, size=(6, 20, 3))  # every frame another arrangement: the atoms diffuse
    with pytest.raises(NoLatticeSymmetryError, match="no two of the 6 training frames share atom sites"):
        find_reference(liquid, z, cell)
    amorphous = liquid[0] + rng.normal(scale=0.05, size=(6, 20, 3))  # one random structure, vibrating
    with pytest.raises(NoLatticeSymmetryError, match=r"only the identity \(P1\)"):
        find_reference(amorphous, z, cell)
    with pytest.raises(ValueError, match="symprec == -1"):
        find_reference(amorphous, z, cell, symprec=-1)


@pytest.mark.slow
def test_reference_of_the_mlearn_si_block(shared_data):
    from gdmlkit import load_dataset
    from gdmlkit.symmetry import validate_permutations

    path = shared_data / "periodic" / "mlearn" / "Si" / "Si_training_aimd_nvt_0_64atoms.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    ds = load_dataset(path)
    idx = np.random.default_rng(0).permutation(len(ds))[:60]
    found = find_reference(ds.R[idx], ds.z, ds.cell[0])
    assert found.group.international == "Fd-3m" and found.group.size == 1536
    # 36 of the 90 frames are molten and 10 have atoms off their sites: only the crystal frames are averaged
    assert 20 <= len(found.frames) <= 40
    assert found.max_site_deviation < 0.1 * found.nn_distance
    validate_permutations(found.group.perms, ds.z)  # a group (closure checked)
