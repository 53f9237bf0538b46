"""Symmetries used to symmetrise the kernel: permutations of identical atoms (molecules) and
space-group operations of periodic supercells (BIGDML)."""

from .groups import close_group, identity_permutation, permutation_desc_index, validate_permutations
from .permutations import find_permutations
from .reference import CrystalReference, NoLatticeSymmetryError, find_reference
from .spacegroup import SUBGROUPS, SpaceGroupSymmetry, find_spacegroup_symmetry

__all__ = ["find_permutations", "close_group", "validate_permutations", "identity_permutation",
           "permutation_desc_index", "SpaceGroupSymmetry", "find_spacegroup_symmetry", "SUBGROUPS",
           "find_reference", "CrystalReference", "NoLatticeSymmetryError"]
