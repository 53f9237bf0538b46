"""Space-group symmetries: permutations against spglib, each operation mapping the crystal onto itself,
group closure, graphene's mirror plane, subgroups."""

import numpy as np
import pytest
import spglib
from ase.build import bulk, graphene
from ase.geometry import get_distances

from gdmlkit import find_spacegroup_symmetry

STRUCTURES = {
    "fcc Pd": (lambda: bulk("Pd", "fcc", a=3.89, cubic=True).repeat(2), 225, 32, 48),
    "bcc Mo": (lambda: bulk("Mo", "bcc", a=3.15, cubic=True).repeat(2), 229, 16, 48),
    "diamond Si": (lambda: bulk("Si", "diamond", a=5.43, cubic=True).repeat(2), 227, 32, 48),
    "graphene": (lambda: graphene(a=2.46, vacuum=7.5).repeat((3, 3, 1)), 191, 9, 24),
}


def _mic_distances(atoms):
    return get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)[1]


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_spacegroup_permutations_match_spglib_and_map_the_crystal_onto_itself(name):
    build, number, n_transl, n_point = STRUCTURES[name]
    atoms = build()
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc)
    ref = spglib.get_symmetry_dataset((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers))
    assert sym.number == ref.number == number
    assert sym.n_operations == len(ref.rotations) == n_transl * n_point
    assert sym.n_translations == n_transl
    assert np.array_equal(sym.perms[0], np.arange(len(atoms)))
    assert len(np.unique(sym.perms, axis=0)) == sym.size
    D = _mic_distances(atoms)
    for p in sym.perms:
        np.testing.assert_allclose(D[p][:, p], D, atol=1e-9)
    # each operation, atoms relabelled by its permutation, puts every atom on its own site (modulo the
    # lattice; along graphene's vacuum direction the mirror plane moves all atoms by the same c vector)
    R = atoms.positions
    moved = np.stack([(R @ M + t)[p] for p, M, t in
                      zip(sym.perms, sym.cartesian_rotations(), sym.translations @ atoms.cell.array)])
    frac = (moved - R) @ np.linalg.inv(atoms.cell.array)
    assert np.abs((frac - np.round(frac)) @ atoms.cell.array).max() < 1e-8
    # a group: closed under composition
    rows = {tuple(p) for p in sym.perms}
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, sym.size, size=(200, 2)):
        assert tuple(sym.perms[i][sym.perms[j]]) in rows


def test_graphene_mirror_plane_acts_as_the_identity():
    atoms = graphene(a=2.46, vacuum=7.5).repeat((3, 3, 1))
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc)
    assert sym.size == sym.n_operations // 2  # sigma_h moves no atom off its site


def test_subgroups_are_closed_and_sized():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    sym = find_spacegroup_symmetry(atoms.positions, atoms.numbers, atoms.cell.array)
    assert sym.subgroup("translations").size == 32
    assert sym.subgroup("site").size == 24  # Td site symmetry of diamond
    for kind in ("translations", "site"):
        sub = sym.subgroup(kind).perms
        rows = {tuple(p) for p in sub}
        assert all(tuple(p[q]) in rows for p in sub[:10] for q in sub)
    with pytest.raises(ValueError, match="Unknown subgroup"):
        sym.subgroup("point")
