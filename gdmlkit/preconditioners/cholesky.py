"""Incomplete (pivoted) Cholesky preconditioner: greedy or randomly pivoted."""

import torch

from .base import NystromPreconditioner, NystromRows, whole_geometries

__all__ = ["CholeskyNystrom"]


class CholeskyNystrom(NystromPreconditioner):
    """Partial Cholesky factor F (n, k), K ≈ F F^T, built column by column.

    Parameters
    ----------
    rank : int
    pivoting : {'greedy', 'random'}
        'greedy' takes the largest residual diagonal entry (classic incomplete
        Cholesky); 'random' samples pivots ∝ residual diagonal (RPCholesky, Chen,
        Epperly, Tropp, Webber 2023), in blocks of `block` pivots.
    block : int
        Pivots chosen per step (columns are evaluated a block at a time).
    by_geometry : bool, default False
        Choose geometries instead of single pivots: the one holding the largest residual
        diagonal entry ('greedy'), or one sampled ∝ its residual trace ('random'). All its
        components are evaluated at once (kernel columns come a geometry block at a time,
        so the build is up to 3N times cheaper) and pivoted within the block; `block` is
        then unused.
    random_state : int, optional
    factor_dtype : {'float64', 'float32'}
        Storage of the final factor (see :class:`~gdmlkit.preconditioners.NystromPreconditioner`).
        Pivoting holds an n x k float64 factor whatever this says: the residuals it compares
        fall far below float32 resolution (docs/theory/tuning.md: a float32 factor resolved only
        1198 of 3571 pivots). With 'float32' that factor is dropped after pivoting and the
        stored one is rebuilt from the pivots' Nyström factor, streamed from the kernel, so
        the two never coexist.

    Within a block of candidates the pivots are taken in order of their residual
    diagonal, updated after each. The result equals the Nyström approximation on the
    chosen pivots (``columns_``).
    """

    name = "cholesky"
    #: pivoting holds an n x k float64 factor anyway, so a float32 one would not save memory
    estimator_options = {"by_geometry": True, "factor_dtype": "float64"}

    def __init__(self, rank, random_state=None, pivoting="greedy", block=1, by_geometry=False,
                 factor_dtype="float64"):
        super().__init__(rank, random_state, factor_dtype)
        self.pivoting = pivoting
        self.block = block
        self.by_geometry = by_geometry

    def _candidates(self, op, res, rng, k):
        """Indices of the next block of candidate pivots, from the residual diagonal `res` (n,),
        with k pivots taken."""
        if self.by_geometry:
            c = op.block_size
            if self.pivoting == "greedy":
                g = int(torch.argmax(res)) // c
            else:
                w = res.reshape(op.n_train, c).sum(1)
                g = int(rng.choice(op.n_train, p=(w / w.sum()).cpu().numpy()))
            return torch.as_tensor(whole_geometries([g], c, c), device=res.device)
        b = min(self.block, self.rank - k)
        if self.pivoting == "greedy":
            return torch.topk(res, b).indices
        p = (res / res.sum()).cpu().numpy()
        return torch.as_tensor(rng.choice(res.shape[0], b, replace=False, p=p), device=res.device)

    def _factor(self, op, rng):
        if self.pivoting not in ("greedy", "random"):
            raise ValueError(f"Unknown pivoting {self.pivoting!r}; expected 'greedy' or 'random'.")
        d = op.diagonal(with_lam=False).clone()  # local rows
        floor = 1e-12 * float(op.gather(d).max())  # residuals below it: numerically dependent columns
        F = torch.zeros(d.shape[0], self.rank, dtype=torch.float64, device=d.device)
        piv = []
        k = 0
        while k < self.rank:
            res = op.gather(d.clamp(min=0))  # all n residuals, on every process
            if float(res.max()) <= floor:  # every remaining pivot is negligible
                break
            cand = self._candidates(op, res, rng, k)
            G = op.columns(cand, with_lam=False) - F[:, :k] @ op.take_rows(F[:, :k], cand).T  # local rows (n, b)
            Gc = op.take_rows(G, cand)  # the candidates' own rows (b, b), on every process
            left = list(range(len(cand)))
            while left and k < self.rank:  # pivoted Cholesky of the block
                t = max(left, key=lambda j: float(Gc[j, j]))
                left.remove(t)
                piv_val = float(Gc[t, t])
                if piv_val <= floor:  # the rest of the block is smaller still
                    break
                col, colc = G[:, t] / piv_val**0.5, Gc[:, t] / piv_val**0.5
                F[:, k] = col
                G[:, left] -= col[:, None] * colc[left][None, :]
                Gc[:, left] -= colc[:, None] * colc[left][None, :]
                d -= col**2
                piv.append(int(cand[t]))
                k += 1
        self.columns_ = torch.as_tensor(piv)
        if self.factor_dtype == "float64":
            return F[:, :k]
        del F  # freed before the float32 factor is written
        return NystromRows(op, piv)
