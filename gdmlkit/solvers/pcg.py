"""Preconditioned conjugate gradients over a matvec closure, resumable from a checkpoint."""

import json
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..exceptions import ConvergenceWarning
from ..utils.atomic import atomic_savez

__all__ = ["pcg", "SolveResult"]


@dataclass
class SolveResult:
    """Outcome of :func:`pcg`.

    Attributes
    ----------
    x : tensor or ndarray (n,)
        Solution (the last iterate if not converged), of the right-hand side's kind.
    converged : bool
    n_iter : int
        Iterations done in total (including those of a resumed checkpoint).
    residuals : list of float
        Relative residual norms ||b - A x|| / ||b||, one per iteration (index 0: the start).
    time_s : float
    """

    x: np.ndarray
    converged: bool
    n_iter: int
    residuals: list = field(default_factory=list)
    time_s: float = 0.0


def pcg(matvec, b, *, precond=None, x0=None, tol=1e-8, max_iter=None, callback=None, checkpoint=None,
        checkpoint_every=10, progress=False, reduce=None, fingerprint=None):
    """Solve A x = b for symmetric positive definite A given only ``matvec(v) = A v``.

    Parameters
    ----------
    matvec : callable
        v -> A v for vectors of b's kind (it must not modify its argument): float64 tensors on
        b's device when b is a tensor (they never leave it), numpy arrays when b is one.
    b : tensor or ndarray (n,)
    precond : callable, optional
        Applies the inverse preconditioner M^{-1} r (SPD) to vectors of b's kind. None: no
        preconditioning.
    x0 : tensor or ndarray (n,), optional
        Warm start.
    tol : float
        Stop when ||b - A x|| <= tol * ||b||; > 0.
    max_iter : int, optional
        Iteration cap (default 10 n); a ConvergenceWarning is issued if reached.
    callback : callable, optional
        Called as ``callback(iteration, x, relative_residual)`` after every iteration;
        return True to stop early.
    checkpoint : str or Path, optional
        File (.npz) holding the CG state; if it exists the solve resumes from it,
        and it is rewritten atomically every `checkpoint_every` iterations, so an
        interrupted solve loses at most that many iterations.
    fingerprint : dict, optional
        JSON-serialisable description of everything that defines the system and the preconditioner
        (data hash, kernel parameters, ...), stored in the checkpoint: resuming a checkpoint whose
        fingerprint differs raises ValueError naming the entries that differ.
    progress : bool
        tqdm bar of the relative residual.
    reduce : callable, optional
        For vectors sharded over processes (each holds some rows of b, x and of every product):
        sums a 1-element tensor over the processes (e.g. a sharded operator's ``reduce``), so that
        dot products and norms are global. Each process then passes its own `checkpoint` file, and
        they resume only all together.

    Returns
    -------
    SolveResult
    """
    numpy_io = not isinstance(b, torch.Tensor)
    # numpy vectors are handled in torch (CPU): numpy's dot products wake OpenBLAS threads that keep
    # spinning beside the kernel product's and, on 2 cores, doubled the time per iteration
    bt = torch.as_tensor(np.asarray(b) if numpy_io else b, dtype=torch.float64)
    if bt.ndim != 1:
        raise ValueError(f"b must be a vector (n,); got shape {tuple(bt.shape)}.")
    if not bool(torch.isfinite(bt).all()):
        raise ValueError("b contains NaN or inf.")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol == {tol}, must be > 0.")
    n, dev = bt.shape[0], bt.device
    max_iter = 10 * n if max_iter is None else int(max_iter)
    if max_iter < 1:
        raise ValueError(f"max_iter == {max_iter}, must be >= 1.")
    t0 = time.perf_counter()
    if reduce is None:
        def dot(u, v):
            return float(u @ v)

        def norm(v):
            return float(torch.linalg.vector_norm(v))
    else:
        def dot(u, v):
            return float(reduce((u @ v).reshape(1)))

        def norm(v):
            return dot(v, v) ** 0.5
    b_norm = norm(bt)
    out = (lambda v: v.cpu().numpy()) if numpy_io else (lambda v: v)
    if b_norm == 0.0:
        return SolveResult(out(torch.zeros_like(bt)), True, 0, [0.0], 0.0)

    def call(f, v):  # f takes and returns vectors of b's kind
        return torch.as_tensor(f(out(v)), dtype=torch.float64, device=dev)

    apply_m = (lambda r: call(precond, r)) if precond is not None else (lambda r: r)
    resume = checkpoint is not None and os.path.exists(checkpoint)
    if reduce is not None and checkpoint is not None:
        have = float(reduce(torch.tensor([float(resume)], dtype=torch.float64, device=dev)))
        total = float(reduce(torch.ones(1, dtype=torch.float64, device=dev)))
        if 0 < have < total:
            raise ValueError(f"Only {have:.0f} of {total:.0f} processes found their checkpoint shard (this one: "
                             f"{checkpoint}, {'present' if resume else 'missing'}); a sharded checkpoint resumes "
                             "only whole, with the same number of processes. Delete the shards to restart.")
    stamp = {} if fingerprint is None else {"fingerprint": np.array(json.dumps(fingerprint, sort_keys=True))}
    if resume:
        with np.load(checkpoint, allow_pickle=False) as st:
            _check_fingerprint(checkpoint, st, fingerprint)
            if st["x"].shape != (n,) or not np.allclose(st["b"], bt.cpu().numpy()):
                raise ValueError(f"Checkpoint {checkpoint} belongs to a different system; delete it to restart.")
            x, r, p = (torch.from_numpy(st[key].copy()).to(dev) for key in ("x", "r", "p"))
            rz, residuals, it0 = float(st["rz"]), list(st["residuals"]), int(st["n_iter"])
    else:
        x = torch.zeros_like(bt) if x0 is None else torch.as_tensor(x0, dtype=torch.float64, device=dev).clone()
        r = bt - call(matvec, x) if x0 is not None else bt.clone()
        p = apply_m(r).clone()
        rz = dot(r, p)
        residuals, it0 = [norm(r) / b_norm], 0

    converged = residuals[-1] <= tol
    bar = tqdm(total=max_iter, initial=it0, desc="PCG", disable=not progress, unit="it")
    it = it0
    try:
        while not converged and it < max_iter:
            Ap = call(matvec, p)
            pAp = dot(p, Ap)
            if not pAp > 0:
                raise np.linalg.LinAlgError(f"PCG: p^T A p = {pAp:.3e} <= 0 at iteration {it}; "
                                            "the matrix (or preconditioner) is not positive definite.")
            alpha = rz / pAp
            x.add_(p, alpha=alpha)
            r.sub_(Ap, alpha=alpha)
            it += 1
            rel = norm(r) / b_norm
            residuals.append(rel)
            bar.update(1)
            bar.set_postfix(residual=f"{rel:.2e}")
            converged = rel <= tol
            if callback is not None and callback(it, out(x), rel):
                break
            if converged:
                break
            z = apply_m(r)
            rz_new = dot(r, z)
            p = torch.add(z, p, alpha=rz_new / rz)
            rz = rz_new
            if checkpoint is not None and it % checkpoint_every == 0:
                atomic_savez(checkpoint, x=x.cpu().numpy(), r=r.cpu().numpy(), p=p.cpu().numpy(), rz=rz,
                             b=bt.cpu().numpy(), residuals=np.array(residuals), n_iter=it, **stamp)
    finally:
        bar.close()
    if not converged and it >= max_iter:
        warnings.warn(f"PCG did not converge in {max_iter} iterations: relative residual {residuals[-1]:.2e} > "
                      f"tol {tol:.1e}. Raise max_iter, use a stronger preconditioner (larger rank), or increase "
                      "lam.", ConvergenceWarning, stacklevel=2)
    if checkpoint is not None and converged and os.path.exists(checkpoint):
        os.remove(checkpoint)
    return SolveResult(out(x), converged, it, residuals, time.perf_counter() - t0)


def _check_fingerprint(path, stored, fingerprint):
    """Raise ValueError when the checkpoint's fingerprint is not `fingerprint`, naming what differs."""
    if fingerprint is None:
        return
    if "fingerprint" not in stored.files:
        raise ValueError(f"Checkpoint {path} records no fingerprint of its system (written by an older gdmlkit), "
                         "so it cannot be checked to belong to this fit; delete it to restart.")
    old, new = json.loads(str(stored["fingerprint"])), json.loads(json.dumps(fingerprint))
    if old == new:
        return
    diff = [f"{k}: {old.get(k)!r} there, {new.get(k)!r} here" for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)]
    raise ValueError(f"Checkpoint {path} belongs to another system ({'; '.join(diff)}); resuming it would "
                     "converge to a wrong solution. Delete it to restart, or pass another checkpoint path.")
