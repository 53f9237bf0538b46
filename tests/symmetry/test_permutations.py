"""Permutational symmetry discovery: groups found on real and synthetic ensembles,
agreement with sgdml's own finder, group algebra and input checks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from gdmlkit.symmetry import (
    close_group,
    find_permutations,
    identity_permutation,
    permutation_desc_index,
    validate_permutations,
)

from helpers import ETHANOL_PERMS, load_shared_npz

# ---------------------------------------------------------------- helpers


def as_set(perms):
    return {tuple(int(i) for i in p) for p in perms}


def sgdml_perms(R, z):
    perm = pytest.importorskip("sgdml.utils.perm")
    return perm.find_perms(R, z, lat_and_inv=None, max_processes=1)


def assert_is_group(perms):
    """Identity first, rows unique and sorted, closed under composition and inverse."""
    perms = np.asarray(perms)
    np.testing.assert_array_equal(perms[0], np.arange(perms.shape[1]))
    np.testing.assert_array_equal(perms, np.unique(perms, axis=0))
    members = as_set(perms)
    assert as_set(p[q] for p in perms for q in perms) <= members
    assert as_set(np.argsort(p) for p in perms) <= members


def sorted_profiles(R, z):
    """Per atom, distances to each element's atoms sorted within element: (m, n, n)."""
    D = np.linalg.norm(R[:, :, None] - R[:, None], axis=-1)
    return np.concatenate([np.sort(D[:, :, z == e], axis=-1) for e in np.unique(z)], axis=-1)


def profile_mismatch(R, z, p):
    """Largest difference (Å) between the ensemble-mean sorted distance profiles of
    the relabelled geometries R[:, p] and of the originals."""
    return np.max(np.abs(sorted_profiles(R[:, p], z).mean(axis=0) - sorted_profiles(R, z).mean(axis=0)))


def assert_symmetry_of_ensemble(R, z, perms):
    """On average, relabelled atoms see the same surroundings as the originals: found
    symmetries stay within 0.3 Å (uneven sampling of methyl positions in 200 frames
    gives ~0.2 Å), while swapping two chemically different atoms gives about 1 Å."""
    for p in perms:
        assert profile_mismatch(R, z, p) < 0.3, p


def benzene(n_geoms, noise, seed=0, scramble=False):
    """Ideal D6h benzene (C 1.39 Å, H 2.47 Å from the centre) plus Gaussian noise (Å).

    With `scramble`, each geometry is also randomly rotated and relabelled by a random
    ring rotation/reflection, as a long MD with exchanges would sample it.
    """
    ang = np.arange(6) * np.pi / 3
    R0 = np.vstack([np.stack([r * np.cos(ang), r * np.sin(ang), np.zeros(6)], axis=1) for r in (1.39, 2.47)])
    rng = np.random.default_rng(seed)
    R = R0 + rng.normal(scale=noise, size=(n_geoms, 12, 3))
    if scramble:
        R = np.stack([r @ Rotation.random(random_state=k).as_matrix().T for k, r in enumerate(R)])
        for k in range(n_geoms):
            order = (np.arange(6) * rng.choice([-1, 1]) + rng.integers(6)) % 6
            R[k] = R[k, np.r_[order, order + 6]]
    return R, np.array([6] * 6 + [1] * 6)


def toluene(n_geoms, noise, free_rotor, seed=0):
    """Planar ring with a tetrahedral methyl whose torsion is random (free rotor) or fixed."""
    rng = np.random.default_rng(seed)
    ang = np.arange(6) * np.pi / 3
    ring_c = np.stack([1.39 * np.cos(ang), 1.39 * np.sin(ang), np.zeros(6)], axis=1)
    ring_h = np.stack([2.47 * np.cos(ang[1:]), 2.47 * np.sin(ang[1:]), np.zeros(5)], axis=1)
    c_me = np.array([1.39 + 1.51, 0.0, 0.0])
    tilt = np.deg2rad(180.0 - 109.5)
    geoms = []
    for _ in range(n_geoms):
        tors = (rng.uniform(0, 2 * np.pi) if free_rotor else 0.0) + np.arange(3) * 2 * np.pi / 3
        h_me = c_me + 1.09 * np.stack(
            [np.full(3, np.cos(tilt)), np.sin(tilt) * np.cos(tors), np.sin(tilt) * np.sin(tors)], axis=1
        )
        geoms.append(np.vstack([ring_c, c_me, ring_h, h_me]))
    R = np.array(geoms) + rng.normal(scale=noise, size=(n_geoms, 15, 3))
    return R, np.array([6] * 7 + [1] * 8)


@pytest.fixture(scope="module")
def ethanol_200(ethanol_rmd17):
    """200 geometries of the shipped rMD17 ethanol (conftest.py)."""
    return ethanol_rmd17["R"][:200], ethanol_rmd17["z"]


@pytest.fixture(scope="module")
def aspirin(shared_data):
    d = load_shared_npz(shared_data, "molecules/xtb_md/aspirin_gfn2xtb_500K.npz", keys=("R", "z"))
    return d["R"], d["z"]


# ---------------------------------------------------------------- discovery


def test_ethanol_has_six_symmetries(ethanol_200):
    R, z = ethanol_200
    perms = find_permutations(R, z)
    # methyl H (atoms 5-7) rotations; odd methyl permutations come with the CH2 H (3, 4) swap
    expected = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
        [0, 1, 2, 3, 4, 6, 7, 5, 8],
        [0, 1, 2, 3, 4, 7, 5, 6, 8],
        [0, 1, 2, 4, 3, 5, 7, 6, 8],
        [0, 1, 2, 4, 3, 6, 5, 7, 8],
        [0, 1, 2, 4, 3, 7, 6, 5, 8],
    ]
    np.testing.assert_array_equal(perms, expected)
    assert as_set(perms) == as_set(ETHANOL_PERMS)  # the constant the kernel tests use fits this atom order
    assert perms.dtype == np.int64
    assert_is_group(perms)
    assert_symmetry_of_ensemble(R, z, perms)
    swap_ch2_oh = np.array([0, 1, 2, 8, 4, 5, 6, 7, 3])  # negative control: CH2 H <-> OH H
    assert profile_mismatch(R, z, swap_ch2_oh) > 0.5


@pytest.mark.sgdml
def test_ethanol_matches_sgdml(ethanol_200):
    R, z = ethanol_200
    assert as_set(find_permutations(R, z)) == as_set(sgdml_perms(R, z))


@pytest.mark.parametrize("scramble", [False, True])
def test_benzene_has_d6h_atom_permutations(scramble):
    R, z = benzene(40, noise=0.05, scramble=scramble)
    perms = find_permutations(R, z)
    assert len(perms) == 12
    assert_is_group(perms)
    # rotations and reflections of the hexagon act alike on the C ring and the H ring
    np.testing.assert_array_equal(perms[:, 6:] - 6, perms[:, :6])
    if not scramble:
        assert_symmetry_of_ensemble(R, z, perms)


def test_single_ideal_geometry_gives_its_exact_symmetries():
    R, z = benzene(1, noise=0.0)
    assert len(find_permutations(R, z)) == 12
    R, z = benzene(1, noise=0.05)  # a single distorted geometry has no exact symmetry
    np.testing.assert_array_equal(find_permutations(R, z), identity_permutation(12))


def test_asymmetric_molecule_has_identity_only():
    rng = np.random.default_rng(0)
    R = rng.normal(scale=1.5, size=(6, 3)) + 0.01 * rng.normal(size=(30, 6, 3))
    np.testing.assert_array_equal(find_permutations(R, np.array([6, 6, 6, 1, 1, 1])), identity_permutation(6))


@pytest.mark.sgdml
def test_benzene_matches_sgdml():
    R, z = benzene(50, noise=0.05)
    assert as_set(find_permutations(R, z)) == as_set(sgdml_perms(R, z))


@pytest.mark.sgdml
@pytest.mark.parametrize("free_rotor, size", [(True, 12), (False, 2)])
def test_toluene_matches_sgdml(free_rotor, size):
    # free rotor: S3 on the methyl H (odd ones via mirror images) x ring flip;
    # fixed methyl (one H in the ring plane): only the mirror swap of the other two
    R, z = toluene(100, noise=0.03, free_rotor=free_rotor)
    perms = find_permutations(R, z)
    assert len(perms) == size
    assert_is_group(perms)
    assert as_set(perms) == as_set(sgdml_perms(R, z))


@pytest.mark.sgdml
@pytest.mark.parametrize("frames, size", [(slice(0, 20000, 100), 6), (slice(0, 200), 1)])
def test_aspirin_matches_sgdml(aspirin, frames, size):
    # every 100th frame: the methyl rotates (S3 on its H); the first 200 (100 fs): it does not
    R, z = aspirin
    R = R[frames]
    perms = find_permutations(R, z)
    assert len(perms) == size
    assert_is_group(perms)
    assert as_set(perms) == as_set(sgdml_perms(R, z))


@pytest.mark.slow
@pytest.mark.sgdml
def test_aspirin_1000_geometries_matches_sgdml(aspirin):
    R, z = aspirin
    R = R[::20][:1000]
    perms = find_permutations(R, z)
    assert len(perms) == 6
    assert as_set(perms) == as_set(sgdml_perms(R, z))


def test_found_perms_respect_elements(ethanol_200):
    for R, z in (ethanol_200, benzene(20, 0.05)):
        perms = find_permutations(R, z)
        assert np.all(z[perms] == z)


def test_found_perms_respect_elements_aspirin(aspirin):
    R, z = aspirin[0][::100], aspirin[1]
    assert np.all(z[find_permutations(R, z)] == z)


def test_length_unit_and_progress_do_not_matter(ethanol_200):
    R, z = ethanol_200
    ref = find_permutations(R, z)
    np.testing.assert_array_equal(find_permutations(R / 0.52917721, z, progress=True), ref)


def test_subset_is_reproducible(ethanol_rmd17):
    R, z = ethanol_rmd17["R"], ethanol_rmd17["z"]
    a = find_permutations(R, z, max_geometries=100, random_state=3)
    np.testing.assert_array_equal(a, find_permutations(R, z, max_geometries=100, random_state=3))
    assert len(a) == 6


def test_zero_tolerance_still_returns_a_group(ethanol_200):
    assert_is_group(find_permutations(*ethanol_200, tol=0.0))


def test_cap_warns_and_keeps_a_subgroup():
    R, z = benzene(20, noise=0.05)
    with pytest.warns(UserWarning, match="max_perms=4"):
        perms = find_permutations(R, z, max_perms=4)
    assert 1 < len(perms) <= 4
    assert_is_group(perms)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(z=[6, 6, 8]), ValueError, "one atomic number per atom"),
        (dict(tol=-0.1), ValueError, "tol"),
        (dict(max_perms=0), ValueError, "max_perms"),
        (dict(max_geometries=2.5), TypeError, "max_geometries"),
    ],
)
def test_find_permutations_rejects_bad_input(ethanol_200, kwargs, exc, match):
    R, z = ethanol_200
    with pytest.raises(exc, match=match):
        find_permutations(R[:10], **{"z": z, **kwargs})


# ---------------------------------------------------------------- group algebra


def perm_lists(max_atoms=5, max_perms=3):
    return st.integers(2, max_atoms).flatmap(
        lambda n: st.lists(st.permutations(list(range(n))), min_size=1, max_size=max_perms)
    )


@settings(max_examples=60, deadline=None)
@given(perm_lists())
def test_close_group_is_the_generated_group(gens):
    gens = np.array(gens)
    group = close_group(gens)
    assert_is_group(group)
    assert as_set(gens) <= as_set(group)
    np.testing.assert_array_equal(close_group(group), group)
    assert math.factorial(gens.shape[1]) % len(group) == 0  # Lagrange


def test_close_group_of_benzene_generators():
    rot = np.r_[np.roll(np.arange(6), 1), 6 + np.roll(np.arange(6), 1)]
    flip = np.r_[(-np.arange(6)) % 6, 6 + (-np.arange(6)) % 6]
    group = close_group([rot, flip])
    assert len(group) == 12
    assert_is_group(group)


def test_close_group_cap_warns_and_keeps_identity():
    gens = [np.roll(np.arange(5), 1), [1, 0, 2, 3, 4]]  # generate S5 (120 elements)
    assert len(close_group(gens, max_perms=120)) == 120
    with pytest.warns(UserWarning, match="max_perms=10"):
        group = close_group(gens, max_perms=10)
    assert len(group) == 10
    np.testing.assert_array_equal(group[0], np.arange(5))


def test_identity_permutation():
    ident = identity_permutation(4)
    np.testing.assert_array_equal(ident, [[0, 1, 2, 3]])
    assert ident.dtype == np.int64


# ---------------------------------------------------------------- validation

Z = np.array([6, 1, 1, 8])


def test_validate_accepts_a_group_and_sorts_it():
    perms = [[0, 2, 1, 3], [0, 1, 2, 3]]
    out = validate_permutations(perms, Z)
    np.testing.assert_array_equal(out, [[0, 1, 2, 3], [0, 2, 1, 3]])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(validate_permutations(np.array(perms, dtype=float), Z), out)
    np.testing.assert_array_equal(validate_permutations(identity_permutation(4), Z), identity_permutation(4))


@pytest.mark.parametrize(
    "perms, exc, match",
    [
        ([[0, 1, 1, 3]], ValueError, "not a permutation"),
        ([[0, 1, 2, 4]], ValueError, "not a permutation"),
        ([[0, 1, 2]], ValueError, "length 3 but z has 4"),
        ([[0, 1, 2, 3], [3, 1, 2, 0]], ValueError, "same element"),
        ([[0, 2, 1, 3]], ValueError, "lacks the identity"),
        ([[0, 1, 2, 3], [0, 1, 2, 3]], ValueError, "duplicate"),
        ([0, 1, 2, 3], ValueError, "2-D"),
        (np.zeros((0, 4), dtype=int), ValueError, "empty"),
        ([[0.0, 1.5, 2.0, 3.0]], TypeError, "integer"),
    ],
)
def test_validate_rejects_bad_perms(perms, exc, match):
    with pytest.raises(exc, match=match):
        validate_permutations(perms, Z)


def test_validate_rejects_a_set_that_is_not_a_group():
    z = np.ones(3, dtype=int)
    with pytest.raises(ValueError, match="close_group"):
        validate_permutations([[0, 1, 2], [1, 2, 0]], z)  # the 3-cycle without its square
    assert len(validate_permutations(close_group([[1, 2, 0]]), z)) == 3


# ---------------------------------------------------------------- descriptor index


def inverse_distances(R):
    a, b = np.tril_indices(R.shape[-2], k=-1)
    return 1.0 / np.linalg.norm(R[..., a, :] - R[..., b, :], axis=-1)


@settings(max_examples=40, deadline=None)
@given(perm_lists(max_atoms=12, max_perms=4), st.integers(0, 2**32 - 1))
def test_desc_index_permutes_the_descriptor(perms, seed):
    perms = np.array(perms)
    R = np.random.default_rng(seed).normal(size=(3, perms.shape[1], 3))
    idx = permutation_desc_index(perms)
    assert idx.dtype == np.int64
    assert idx.shape == (len(perms), perms.shape[1] * (perms.shape[1] - 1) // 2)
    x = inverse_distances(R)
    for p, ip in zip(perms, idx):
        np.testing.assert_array_equal(inverse_distances(R[:, p]), x[:, ip])


def test_desc_index_of_found_perms(ethanol_200):
    R, z = ethanol_200
    idx = permutation_desc_index(find_permutations(R, z))
    np.testing.assert_array_equal(idx[0], np.arange(idx.shape[1]))
    x = inverse_distances(R[:5])
    for p, ip in zip(find_permutations(R, z), idx):
        np.testing.assert_array_equal(inverse_distances(R[:5, p]), x[:, ip])


@pytest.mark.parametrize("chunk", [2**22, 1000])  # one pass; chunks of a few rows
def test_closure_check_of_a_large_group_is_exact(chunk):
    from gdmlkit.symmetry.groups import _is_closed

    group = close_group([[1, 0, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]])  # S6 from a transposition and a 6-cycle
    assert len(group) == 720 and _is_closed(group, chunk=chunk)
    for drop in (1, 359, 719):
        assert not _is_closed(np.delete(group, drop, axis=0), chunk=chunk)
