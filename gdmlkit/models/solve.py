"""The two ways an estimator solves its kernel system: closed form and PCG on the lazy operator.

Both take the training descriptors computed once per fit (``x``, ``g`` from
``descriptor.transform``) and return the Cartesian force coefficients (with energy
coefficients appended for energy constraints) and a ``solve_info_`` dict. Sizing
decisions come from :class:`~gdmlkit.models.policy.FitPolicy`.
"""

import hashlib
import os
import time
import warnings

import numpy as np
import torch

from ..distributed import group
from ..distributed.sharded import ShardedHessianOperator
from ..exceptions import ConvergenceError, ConvergenceWarning, NotPSDError, PerformanceWarning
from ..kernels.autodiff import AutodiffKernelOperator
from ..descriptors import InverseDistanceDescriptor
from ..kernels.dense import assemble_kernel
from ..kernels.dense_pairs import assemble_pair_kernel
from ..kernels.operator import HessianKernelOperator
from ..preconditioners import make_preconditioner
from ..solvers import cholesky_factor_inplace, cholesky_solve
from ..solvers.pcg import pcg

__all__ = ["closed_form", "pcg_fit"]

#: Permutations from which the closed form contracts the pair descriptors' sparse Jacobians instead of dense ones
#: (benchmarks/dense_kernel.py: about 30x faster with the 1536-2592 operations of BIGDML supercells, at about 32
#: the two break even; with molecules' few permutations the dense Jacobians are faster).
PAIR_KERNEL_PERMS = 32

#: Parameters that may differ between the processes of one distributed fit.
_PER_PROCESS = ("progress", "device", "checkpoint")


def closed_form(est, R, desc, x, g, dp, F, y_vec, use_E_cstr, policy):
    """Closed form in the rigid-motion-free subspace: J_i Q_i replaces J_i, so the system has
    n (3N - 6) unknowns instead of 3N n (same predictions, less work).

    `est` gives sigma, lam and progress; R (n, n_atoms, 3) the positions, F (n, n_atoms, 3) the
    forces, `y_vec` the labels.
    """
    n, n_atoms = F.shape[:2]
    frame = desc.internal_frame(torch.from_numpy(R))
    pairs = _pair_structure(desc, dp)
    if frame is None:  # some geometry linear: solve in full Cartesian space
        J = (g, pairs) if pairs else desc.jacobian(g)
        return _factor_and_solve(est, x, J, dp, y_vec, use_E_cstr, policy)
    JQ = (g, pairs, frame.basis()) if pairs else desc.jacobian_times(g, frame.basis())
    yF = frame.project(torch.from_numpy(F.reshape(n, -1))).reshape(-1).numpy()
    y_red = np.concatenate([yF, y_vec[n * n_atoms * 3:]])
    beta, info = _factor_and_solve(est, x, JQ, dp, y_red, use_E_cstr, policy)
    r = frame.rank
    alpha_F = frame.lift(torch.from_numpy(beta[:n * r].reshape(n, r))).reshape(-1).numpy()
    info["internal_dof"] = r
    return np.concatenate([alpha_F, beta[n * r:]]), info


def _pair_structure(desc, dp):
    """The atom pairs (alpha, beta) of the hand-derived inverse distances (any base kernel), whose sparse Jacobians
    the closed form contracts without forming them (:mod:`gdmlkit.kernels.dense_pairs`), where that is the faster
    path (``PAIR_KERNEL_PERMS``); None otherwise."""
    if not isinstance(desc, InverseDistanceDescriptor):
        return None
    return desc._pairs("cpu") if len(dp) >= PAIR_KERNEL_PERMS else None


def _assemble(est, kernel, x, J, dp, use_E_cstr, K):
    """Fill the lower triangle of K; J: a dense (n, D, r) Jacobian, or (g, pairs[, basis]) of a pair descriptor."""
    if isinstance(J, tuple):
        g, pairs, *basis = J
        assemble_pair_kernel(x, g, pairs, dp, est.sigma, basis=basis[0] if basis else None, use_E=use_E_cstr,
                             out=K, lower_only=True, progress=est.progress, kernel=kernel)
    else:
        assemble_kernel(x, J, dp, est.sigma, use_E=use_E_cstr, out=K, lower_only=True, progress=est.progress,
                        kernel=kernel)


def _factor_and_solve(est, x, J, dp, y_vec, use_E_cstr, policy):
    """Assemble K in one float64 array, factorise in place, solve; jitter on failure."""
    size = y_vec.size
    policy.check_closed_form(size)
    K = np.empty((size, size))
    diag = np.arange(size)
    jitter = 0.0
    t0 = time.perf_counter()
    kernel = est.base_kernel()
    for attempt in range(6):
        _assemble(est, kernel, x, J, dp, use_E_cstr, K)
        t1 = time.perf_counter()
        scale = float(np.mean(np.abs(K[diag, diag])))
        K[diag, diag] += est.lam + jitter
        if cholesky_factor_inplace(K, progress=est.progress) == 0:
            break
        jitter = max(100.0 * jitter, 1e-10 * scale, 10.0 * est.lam)
        warnings.warn(f"Kernel matrix not positive definite with lam={est.lam:g}; retrying with "
                      f"jitter {jitter:.1e} added to the diagonal.", PerformanceWarning, stacklevel=4)
    else:
        raise NotPSDError(
            f"The kernel matrix is not positive definite even with jitter {jitter:.1e}. Check for "
            "duplicate training geometries, or increase lam or sigma."
        )
    alphas = cholesky_solve(K, y_vec)
    t2 = time.perf_counter()
    del K
    info = {"solver": "cholesky", "size": size, "jitter": jitter, "attempts": attempt + 1,
            "t_assemble_s": t1 - t0, "t_solve_s": t2 - t1}
    return alphas, info


def shard_path(path, rank, world):
    """The checkpoint file of process `rank` of `world` (`path` itself on one process)."""
    if path is None or world == 1:
        return path
    root, ext = os.path.splitext(os.fspath(path))
    return f"{root}.rank{rank}-of-{world}{ext}"


def system_fingerprint(est, R, F, x, dp, rank, options, world):
    """What defines a PCG fit's system and preconditioner, for its checkpoint: SHA-256 of the
    geometries (Å or the training unit), forces, descriptors (so also cell and descriptor
    choice) and permutations; sigma, lam, the preconditioner with its rank, options and seed,
    and the number of processes. Not tol or max_iter, which a resumed fit may change."""
    def digest(*arrays):
        h = hashlib.sha256()
        for a in arrays:
            a = np.ascontiguousarray(a.numpy() if isinstance(a, torch.Tensor) else a)
            h.update(repr((a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())
        return h.hexdigest()

    return {"data": digest(R, F), "descriptor": f"{type(est).__name__}: {digest(x)}", "perms": digest(dp),
            "sigma": float(est.sigma), "lam": float(est.lam), "preconditioner": est.preconditioner,
            "rank": int(rank), "preconditioner_options": {k: str(v) for k, v in sorted(options.items())},
            "random_state": None if est.random_state is None else str(est.random_state),
            "processes": int(world), **({} if est.kernel is None else {"kernel": repr(est.base_kernel())})}


def pcg_fit(est, R, desc, x, g, dp, F, policy):
    """Lazy operator (internal coordinates) + Nyström preconditioner + PCG; vectors stay on the
    estimator's device. `est` gives the solver parameters. Inside a process group of several
    processes the operator, the factor and the vectors are sharded by training geometries
    (:mod:`gdmlkit.distributed`) and every process gets the whole solution."""
    sharded, world, rank_id = group.active(), group.world_size(), group.rank()
    n_train = len(R)
    if sharded:
        params = {k: v for k, v in est.get_params().items() if k not in _PER_PROCESS}
        group.check_same_data(est.device, R, F, np.frombuffer(repr(sorted(params.items())).encode(), np.uint8))
        cache_bytes = ShardedHessianOperator.coefficient_bytes(n_train, dp, world, rank_id)
    else:
        cache_bytes = HessianKernelOperator.coefficient_bytes(n_train, dp)
    cache = policy.cache(est.cache_coefficients, est.backend, est.device, cache_bytes)
    if sharded:  # every process caches, or none (budgets may differ between processes)
        cache = bool(group.all_sum(torch.tensor([float(cache)], device=est.device)) == world)
    kernel = est.base_kernel()
    if kernel is not None and sharded:
        raise NotImplementedError("Distributed PCG fits take the hand-derived Matérn kernel only (kernel=None).")
    Operator = ShardedHessianOperator if sharded else HessianKernelOperator
    extra = {}
    if kernel is not None:
        Operator, extra = AutodiffKernelOperator, {"kernel": kernel}
    op = Operator(R, dp, est.sigma, est.lam, coordinates="internal", backend=est.backend, device=est.device,
                  descriptor=desc, features=(x, g), cache_coefficients=cache, **extra)
    b = op.project(torch.from_numpy(F))
    n = op.shape[0]
    # rank and storage as one process would choose them: the same answer on any number of processes
    single_cache = HessianKernelOperator.coefficient_bytes(n_train, dp) if cache else 0
    rank, options = policy.preconditioner(est.preconditioner, n, est.n_inducing, est.preconditioner_options,
                                          single_cache)
    pc = make_preconditioner(est.preconditioner, rank, random_state=est.random_state, **options)
    t0 = time.perf_counter()
    if pc is not None:
        pc.fit(op)
    t1 = time.perf_counter()
    max_iter = est.max_iter if est.max_iter is not None else int(10 * np.sqrt(n)) + 1000
    with warnings.catch_warnings():
        if est.max_iter is None:  # the default cap: not converging is an error below, not a warning
            warnings.simplefilter("ignore", ConvergenceWarning)
        res = pcg(op.matvec, b, precond=pc, tol=est.tol, max_iter=max_iter,
                  checkpoint=shard_path(est.checkpoint, rank_id, world), progress=est.progress and rank_id == 0,
                  reduce=op.reduce if sharded else None,
                  fingerprint=system_fingerprint(est, R, F, x, dp, rank, options, world) if est.checkpoint else None)
    if not res.converged and est.max_iter is None:
        kept = f" The checkpoint {est.checkpoint} holds the last iterate." if est.checkpoint else ""
        raise ConvergenceError(
            f"PCG did not converge in {max_iter} iterations (the default cap): relative residual "
            f"{res.residuals[-1]:.2e} > tol {est.tol:.1e}, so no model was fitted.{kept} Use a stronger "
            "preconditioner (larger n_inducing, or preconditioner='cholesky'), a larger lam or tol, or pass "
            "max_iter=... to accept the iterate reached by then (with a ConvergenceWarning)."
        )
    info = {"solver": "pcg", "size": n, "coordinates": op.coordinates, "backend": op.backend, "processes": world,
            "preconditioner": est.preconditioner, "cached_coefficients": cache,
            "rank": pc.rank_ if pc is not None else 0, "factor_dtype": options["factor_dtype"],
            "factor_bytes": pc.factor_nbytes if pc is not None else 0, "cache_bytes": op.cached_bytes,
            "n_iter": res.n_iter, "converged": res.converged,
            "residuals": res.residuals, "t_preconditioner_s": t1 - t0, "t_solve_s": res.time_s}
    return op.gather_geometries(op.lift(res.x)).reshape(-1).cpu().numpy(), info
