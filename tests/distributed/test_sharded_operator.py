"""The sharded operator of two local processes (Gloo) against the dense kernel: its rows of every product,
with the symmetric product's tile pairs dealt out (with and without cached coefficients) and with the
row-sharded plain product (permutations that are not a group)."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gdmlkit import find_permutations, load_example
from gdmlkit.distributed.sharded import ShardedHessianOperator
from gdmlkit.kernels import HessianKernelOperator
from gdmlkit.symmetry import permutation_desc_index

CASES = {"symmetric": (None, False), "symmetric-cached": (None, True), "plain": ("cycle", False)}


def setup():
    train = load_example("ethanol_train")[:30]
    return train.R, find_permutations(train.R, train.z)


def desc_perms(perms, subset):
    """All permutations, or the identity and a 3-cycle (not closed under inversion: the plain product)."""
    if subset is None:
        return permutation_desc_index(perms)
    cycle = next(p for p in perms if not np.array_equal(p[p], np.arange(len(p))))
    return permutation_desc_index(np.stack([perms[0], cycle]))


def _worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        R, perms = setup()
        for name, (subset, cache) in CASES.items():
            dp = desc_perms(perms, subset)
            op = ShardedHessianOperator(R, dp, 10.0, lam=1e-4, coordinates="internal", tile_rows=7,
                                        cache_coefficients=cache)
            V = np.random.default_rng(0).normal(size=(op.shape[0], 2))[op.local_rows]
            np.save(os.path.join(out_dir, f"{name}.rank{rank}.npy"), op.matvec(V))
            np.save(os.path.join(out_dir, f"{name}.info{rank}.npy"),
                    np.array([op.symmetric, len(getattr(op, "tiles", ())), op.cached_bytes, op.local_rows.start,
                              op.local_rows.stop, op.pairs.n_tile_pairs if op.symmetric else 0]))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shop")
    mp.spawn(_worker, args=(2, str(tmp / "init"), str(tmp)), nprocs=2, join=True)
    return tmp


@pytest.mark.parametrize("name", list(CASES))
def test_sharded_rows_equal_the_dense_kernel(runs, name):
    R, perms = setup()
    subset, cache = CASES[name]
    dp = desc_perms(perms, subset)
    op = HessianKernelOperator(R, dp, 10.0, lam=1e-4, coordinates="internal")
    K = op.to_dense()
    V = np.random.default_rng(0).normal(size=(K.shape[0], 2))
    want = K @ V
    infos = [np.load(runs / f"{name}.info{r}.npy") for r in (0, 1)]
    got = np.concatenate([np.load(runs / f"{name}.rank{r}.npy") for r in (0, 1)])
    assert [int(i[3]) for i in infos] == [0, int(infos[0][4])] and int(infos[1][4]) == K.shape[0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    symmetric = subset is None
    assert all(bool(i[0]) == symmetric for i in infos)
    if symmetric:  # 30 geometries in tiles of 7: 5 tiles, 15 tile pairs, dealt 8 + 7
        assert [int(i[1]) for i in infos] == [8, 7] and int(infos[0][5]) == 15
    if cache:
        full = HessianKernelOperator(R, dp, 10.0, tile_rows=7, cache_coefficients=True).cached_bytes
        assert sum(int(i[2]) for i in infos) == full and all(0 < int(i[2]) < full for i in infos)
