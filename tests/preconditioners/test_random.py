"""Random Nyström preconditioner: the dense Nyström approximation on its columns, whole geometries."""

import numpy as np

from gdmlkit.preconditioners import make_preconditioner
from gdmlkit.solvers.pcg import pcg


def test_nystrom_matches_dense_nystrom(system):
    op, K, _, _ = system
    pc = make_preconditioner("random", 40, random_state=3).fit(op)
    S = pc.columns_.numpy()
    Kn = K - 1e-6 * np.eye(len(K))
    ref = Kn[:, S] @ np.linalg.solve(Kn[np.ix_(S, S)], Kn[S, :])
    approx = pc.factor().numpy() @ np.diag(pc.eig_.numpy()) @ pc.factor().numpy().T
    np.testing.assert_allclose(approx, ref, atol=1e-6 * np.abs(ref).max())


def test_random_by_geometry_takes_whole_blocks(system):
    op, _, b, _ = system
    pc = make_preconditioner("random", 100, random_state=0, by_geometry=True).fit(op)
    cols = pc.columns_.numpy()
    assert len(cols) == 100 and len(set(cols)) == 100
    assert len(set(cols // 27)) == 4  # ceil(100 / 27) geometries
    res = pcg(op.matvec, b, precond=pc, tol=1e-4, max_iter=3000)
    assert res.converged
