"""Helpers that the benchmark scripts share with the notebooks: saved tables, the preconditioner comparison."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "notebooks"))
import _common  # noqa: E402
import _setup  # noqa: E402
from preconditioners import CachedSVD, compare_preconditioners  # noqa: E402

from gdmlkit import find_permutations, load_example  # noqa: E402
from gdmlkit.kernels.operator import HessianKernelOperator  # noqa: E402
from gdmlkit.symmetry import permutation_desc_index  # noqa: E402


def test_read_table_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    _common.write_table("t", ["N train", "wall s"], [[200, "1.9"], [500, ">7.2"]], notes=["a note | with a bar"])
    machine, rows = _common.read_table("t")
    assert machine == _common.machine()
    assert rows == [{"N train": "200", "wall s": "1.9"}, {"N train": "500", "wall s": ">7.2"}]


@pytest.mark.parametrize("name", ["preconditioners", "scaling_ethanol_cpu", "sgdml_vs_gdmlkit"])
def test_saved_tables_read_by_the_notebooks_parse(name):
    machine, rows = _common.read_table(name)
    assert "cores" in machine and len(rows) >= 2
    assert all(len(row) == len(rows[0]) for row in rows)


def test_notebook_size_from_environment(monkeypatch):
    monkeypatch.setenv("GDMLKIT_NOTEBOOK_SIZE", "full")
    assert _setup.notebook_size() == "full"
    monkeypatch.setenv("GDMLKIT_NOTEBOOK_SIZE", "huge")
    with pytest.raises(ValueError, match="expected one of"):
        _setup.notebook_size()


@pytest.fixture(scope="module")
def small_operator():
    train = load_example("ethanol_train")[:12]
    perms = find_permutations(train.R, train.z)
    op = HessianKernelOperator(train.R, permutation_desc_index(perms), 10.0, lam=1e-8, coordinates="internal")
    return op, op.project(train.F)


def test_cached_svd_is_the_truncated_eigendecomposition(small_operator):
    op, _ = small_operator
    K = op.to_dense() - op.lam * np.eye(op.shape[0])
    w, V = np.linalg.eigh(K)  # independent reference: numpy's dense eigendecomposition
    cache = {}
    for k in (5, 40):
        B = CachedSVD(k, cache)._factor(op, None).numpy()
        np.testing.assert_allclose(B @ B.T, (V[:, -k:] * w[-k:]) @ V[:, -k:].T, atol=1e-8 * w[-1])
    assert len(cache) == 1  # one eigendecomposition served both ranks


def test_compare_preconditioners_runs_and_reports(small_operator):
    op, b = small_operator
    n = b.size
    results = compare_preconditioners(op, b, [0.1, 0.5], tol=1e-6, max_iter=5 * n)
    assert [(r["name"], r["fraction"]) for r in results] == [("none", None)] + [
        (name, f) for f in (0.1, 0.5) for name in ("svd", "leverage", "cholesky", "random")]
    for r in results:
        assert r["k"] == (0 if r["fraction"] is None else round(r["fraction"] * n))
        assert len(r["residuals"]) == r["n_iter"] + 1 and r["residuals"][0] == pytest.approx(1.0)
        assert r["converged"] == (r["residuals"][-1] <= 1e-6)
    by = {(r["name"], r["fraction"]): r["n_iter"] for r in results}
    assert by[("svd", 0.5)] < by[("svd", 0.1)] < by[("none", None)]  # a better preconditioner, fewer iterations
