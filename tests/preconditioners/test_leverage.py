"""Ridge-leverage Nyström preconditioner: its scores against dense ridge leverage scores."""

import numpy as np
import pytest

from gdmlkit.preconditioners import make_preconditioner


@pytest.mark.parametrize("by_geometry", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leverage_scores_equal_dense_ridge_leverage(system, dtype, by_geometry):
    """Scores l = diag(A (A + mu I)^-1) of the pilot Nyström approximation A = K_nS K_SS^-1 K_Sn, whether
    the pilot factor is held (float64) or streamed twice (float32), on single columns or whole geometries."""
    op, K, _, _ = system
    n, k, c = len(K), 60, op.block_size
    pc = make_preconditioner("leverage", k, random_state=4, factor_dtype=dtype, by_geometry=by_geometry).fit(op)
    rng = np.random.default_rng(4)  # the pilot's draw
    if by_geometry:
        geoms = rng.permutation(op.n_train)[:-(-k // c)]
        S = (geoms[:, None] * c + np.arange(c)).ravel()[:k]
    else:
        S = rng.choice(n, k, replace=False)
    Kn = K - op.lam * np.eye(n)
    mu = max(op.lam, 1e-6 * np.trace(Kn) / n)
    A = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    ref = np.diag(np.linalg.solve(A + mu * np.eye(n), A))  # A and (A + mu I)^-1 commute
    np.testing.assert_allclose(pc.scores_.numpy(), ref, atol=1e-6 * ref.max())
    chosen = pc.columns_.numpy()
    assert len(np.unique(chosen)) == k
    if by_geometry:  # whole geometries (the last one cut at k), drawn by their summed scores
        assert np.array_equal(chosen[:c * (k // c)] % c, np.tile(np.arange(c), k // c))
