"""Two local processes (Gloo) against one: the sharded PCG fit gives the single-process coefficients,
resumes from a sharded checkpoint, and refuses ranks that hold different data."""

import json
import os
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gdmlkit import GDMLRegressor, load_example
from gdmlkit.exceptions import ConvergenceWarning

N_TRAIN = 30
PARAMS = dict(sigma=10.0, lam=1e-6, solver="pcg", tol=1e-12, n_inducing=120, random_state=0, backend="torch")


def data():
    return load_example("ethanol_train")[:N_TRAIN]


def _worker(rank, world, init_file, out_dir, jobs):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        for name, params, perturb in jobs:
            train = data()
            R = train.R + (1e-3 if perturb and rank == 1 else 0.0)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    m = GDMLRegressor(**{**PARAMS, **params}).fit(R, train.F, E=train.E, z=train.z)
                np.save(os.path.join(out_dir, f"{name}.rank{rank}.npy"), m.alphas_)
                info = {k: m.solve_info_[k] for k in ("n_iter", "processes", "rank", "converged")}
            except ValueError as exc:
                info = {"error": str(exc)}
            with open(os.path.join(out_dir, f"{name}.rank{rank}.json"), "w") as fh:
                json.dump(info, fh)
    finally:
        dist.destroy_process_group()


def run_two(tmp_path, jobs):
    """Run `jobs` [(name, params, perturb)] in 2 spawned Gloo processes; {name: (alphas, info) of rank 0}."""
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path), jobs), nprocs=2, join=True)
    out = {}
    for name, _, _ in jobs:
        infos = [json.load(open(tmp_path / f"{name}.rank{r}.json")) for r in (0, 1)]
        alphas = [np.load(tmp_path / f"{name}.rank{r}.npy") for r in (0, 1)] if "error" not in infos[0] else None
        if alphas is not None:
            np.testing.assert_array_equal(alphas[0], alphas[1])  # every process gets the same model
        out[name] = (None if alphas is None else alphas[0], infos)
    return out


def single(**params):
    train = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GDMLRegressor(**{**PARAMS, **params}).fit(train)


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    ck = str(tmp / "ck.npz")
    jobs = [("random", {"preconditioner": "random"}, False),
            ("cholesky", {"preconditioner": "cholesky"}, False),
            ("leverage", {"preconditioner": "leverage"}, False),
            ("svd", {"preconditioner": "svd"}, False),
            ("float32", {"preconditioner": "random", "preconditioner_options": {"factor_dtype": "float32"}}, False),
            ("interrupted", {"preconditioner": "random", "checkpoint": ck, "max_iter": 25}, False),
            ("resumed", {"preconditioner": "random", "checkpoint": ck}, False),
            ("mismatch", {"preconditioner": "random"}, True)]
    return run_two(tmp, jobs), ck


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("name", ["random", "cholesky", "leverage", "svd", "float32"])
def test_two_processes_give_the_single_process_coefficients(two_process_runs, name):
    alphas, infos = two_process_runs[0][name]
    params = {"preconditioner": "random", "preconditioner_options": {"factor_dtype": "float32"}} \
        if name == "float32" else {"preconditioner": name}
    ref = single(**params)
    assert infos[0]["processes"] == 2 and infos[0]["converged"] and infos[0]["rank"] == ref.solve_info_["rank"]
    assert abs(infos[0]["n_iter"] - ref.solve_info_["n_iter"]) <= 2
    assert rel(alphas, ref.alphas_) < 1e-8


def test_sharded_checkpoint_resumes_to_the_uninterrupted_solution(two_process_runs):
    runs, ck = two_process_runs
    assert not runs["interrupted"][1][0]["converged"] and runs["interrupted"][1][0]["n_iter"] == 25
    resumed, infos = runs["resumed"]
    assert infos[0]["converged"]
    assert rel(resumed, runs["random"][0]) < 1e-8
    assert not any(os.path.exists(ck.replace(".npz", f".rank{r}-of-2.npz")) for r in (0, 1))  # removed at the end


def test_ranks_with_different_data_are_refused(two_process_runs):
    alphas, infos = two_process_runs[0]["mismatch"]
    assert alphas is None
    for info in infos:
        assert "different training data than process 0" in info["error"]
