"""Preconditioners for PCG on (K + lam I): Nyström variants sharing one interface."""

from .base import MIXED_RATIO, NystromPreconditioner, NystromRows
from .cholesky import CholeskyNystrom
from .leverage import LeverageNystrom
from .random import RandomNystrom
from .svd import SVDNystrom

__all__ = ["NystromPreconditioner", "NystromRows", "MIXED_RATIO", "RandomNystrom", "LeverageNystrom",
           "CholeskyNystrom", "SVDNystrom", "make_preconditioner", "PRECONDITIONERS"]

PRECONDITIONERS = {c.name: c for c in (RandomNystrom, LeverageNystrom, CholeskyNystrom, SVDNystrom)}


def make_preconditioner(name, rank, random_state=None, **options):
    """Preconditioner by name ('random', 'leverage', 'cholesky', 'svd'), or None for 'none'."""
    if name in (None, "none"):
        return None
    if name not in PRECONDITIONERS:
        raise ValueError(f"Unknown preconditioner {name!r}; expected one of {sorted(PRECONDITIONERS) + ['none']}.")
    return PRECONDITIONERS[name](rank, random_state=random_state, **options)
