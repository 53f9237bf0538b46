"""Symmetries used to symmetrise the kernel: permutations of identical atoms."""

from .permutations import (
    close_group,
    find_permutations,
    identity_permutation,
    permutation_desc_index,
    validate_permutations,
)

__all__ = ["find_permutations", "close_group", "validate_permutations", "identity_permutation",
           "permutation_desc_index"]
