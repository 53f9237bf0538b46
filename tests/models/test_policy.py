"""FitPolicy: solver choice, coefficient cache, preconditioner rank and factor storage from a memory budget."""

import pytest

from gdmlkit.models.policy import FitPolicy


def test_solver_choice_and_rank_rule_without_a_budget():
    p = FitPolicy()
    assert p.solver("auto", 1000) == "cholesky"
    assert p.solver("auto", 10**7) == "pcg"  # 800 TB kernel: never closed form
    assert p.solver("cholesky", 10**7) == "cholesky"  # an explicit choice is kept
    assert p.rank(21000) == round((36 * 21000**2 / 2) ** (1 / 3))
    assert p.factor_dtype(21000) == "float64"  # k = 1995: 0.34 GB
    assert p.rank(270000) * 270000 * 8 <= 1.5e9
    assert p.factor_dtype(270000) == "float32"  # the rule's k = 11,000 needs 24 GB in float64
    assert p.rank(270000, factor_dtype="float32") == int(1.5e9 // (4 * 270000))
    # a given rank decides the storage by its own size
    assert p.factor_dtype(270000, rank=500) == "float64"  # 1.08 GB
    assert p.factor_dtype(21000, rank=10000) == "float32"  # 1.68 GB


def test_a_budget_moves_solver_cache_and_rank():
    small = FitPolicy(max_memory=4)
    assert small.solver("auto", 15000) == "cholesky" and small.solver("auto", 16000) == "pcg"  # 1.8 / 2.05 GB
    # the largest k with the factor and the build's 4 k x k float64 matrices within 0.65 of the budget
    for size, dtype, cache, budget in [(8, "float64", 0, 2.6e9), (4, "float32", 0, 2.6e9), (8, "float64", 1e9, 1.6e9)]:
        k = small.rank(210000, cache_bytes=cache, factor_dtype=dtype)
        assert size * 210000 * k + 32 * k * k <= budget < size * 210000 * (k + 1) + 32 * (k + 1) ** 2
    assert small.rank(210000, factor_dtype="float32") == 2797  # 3095 if the k x k work were not counted
    assert small.cache("auto", "torch", "cpu", 1.0e9) and not small.cache("auto", "torch", "cpu", 1.1e9)
    assert not small.cache("auto", "keops", "cpu", 1.0) and not small.cache("auto", "torch", "cuda", 1.0)
    assert small.cache(True, "torch", "cuda", 1e12)
    with pytest.raises(MemoryError, match="allowed by max_memory. Use solver='pcg'"):
        small.check_closed_form(23000)  # 4.2 GB > 0.9 * 4 GB


def test_preconditioner_options_come_from_the_class():
    p = FitPolicy(max_memory=4)
    rank, opts = p.preconditioner("random", 210000)
    assert opts == {"by_geometry": True, "factor_dtype": "float32"} and rank == p.rank(210000, factor_dtype="float32")
    rank, opts = p.preconditioner("cholesky", 210000)  # pivots in float64: about half the rank
    assert opts == {"by_geometry": True, "factor_dtype": "float64"} and rank == p.rank(210000) == 1504
    rank, opts = p.preconditioner("svd", 2000, n_inducing=50, options={"max_n": 3000})
    assert rank == 50 and opts == {"max_n": 3000, "factor_dtype": "float64"}
    _, opts = p.preconditioner("leverage", 2000, options={"by_geometry": False})
    assert opts["by_geometry"] is False
