"""PCG checkpoints of the estimators: resumed only by the fit that wrote them (fingerprint), and a fit
killed with SIGKILL mid-PCG resumes to the uninterrupted coefficients. On the shipped rMD17 ethanol."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from gdmlkit import GDMLRegressor
from gdmlkit.data import load_example
from gdmlkit.exceptions import ConvergenceWarning

PARAMS = dict(sigma=10.0, lam=1e-6, solver="pcg", preconditioner="random", n_inducing=60, tol=1e-8,
              random_state=0)


@pytest.fixture(scope="module")
def ethanol():
    return load_example("ethanol_train")[:40]


def _unfinished(ds, ck, **params):
    """Fit that stops after 20 iterations (max_iter), leaving its checkpoint behind."""
    with pytest.warns(ConvergenceWarning):
        GDMLRegressor(**dict(PARAMS, **params), max_iter=20, checkpoint=str(ck)).fit(ds)
    assert ck.exists()


@pytest.mark.parametrize("change, key", [({"sigma": 12.0}, "sigma"), ({"lam": 1e-5}, "lam"),
                                         ({"perms": "none"}, "perms"), ({"random_state": 1}, "random_state"),
                                         ({"n_inducing": 50}, "rank"), (None, "data")])
def test_checkpoint_of_changed_fit_is_refused(ethanol, tmp_path, change, key):
    """Each parameter that defines the system, and the data, is checked (the message names it)."""
    ck = tmp_path / "fit.npz"
    _unfinished(ethanol, ck)
    data = ethanol if change else load_example("ethanol_train")[1:41]
    with pytest.raises(ValueError, match=rf"belongs to another system \({key}: "):
        GDMLRegressor(**dict(PARAMS, **(change or {})), checkpoint=str(ck)).fit(data)
    assert ck.exists()  # left for the fit it belongs to


def test_unfinished_fit_resumes_to_the_uninterrupted_solution(ethanol, tmp_path):
    full = GDMLRegressor(**PARAMS).fit(ethanol)
    ck = tmp_path / "fit.npz"
    _unfinished(ethanol, ck)
    resumed = GDMLRegressor(**PARAMS, checkpoint=str(ck)).fit(ethanol)
    assert resumed.solve_info_["n_iter"] == full.solve_info_["n_iter"]
    np.testing.assert_allclose(resumed.alphas_, full.alphas_, rtol=1e-8, atol=1e-8 * np.abs(full.alphas_).max())
    assert not ck.exists()


CHILD = r"""
import json, sys, numpy as np
from gdmlkit import GDMLRegressor
from gdmlkit.data import load_example
params, ck, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
model = GDMLRegressor(**params, checkpoint=ck or None).fit(load_example("ethanol_train")[:100])
np.savez(out, alphas=model.alphas_, n_iter=model.solve_info_["n_iter"])
"""


def _child(params, ck, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(params), ck, out], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_fit_killed_mid_pcg_resumes_to_the_uninterrupted_solution(tmp_path):
    """A real process, killed with SIGKILL once its checkpoint exists, then a new process resumes it.
    No preconditioner and a tight tol make the solve last ~ a thousand iterations."""
    params = dict(PARAMS, preconditioner="none", n_inducing="auto", max_iter=100000)
    ck, ref, out = (str(tmp_path / f) for f in ("fit.npz", "ref.npz", "out.npz"))
    killed = _child(params, ck, out)
    t0 = time.monotonic()
    while not os.path.exists(ck):
        assert killed.poll() is None, f"the fit ended before writing a checkpoint: {killed.stderr.read()}"
        assert time.monotonic() - t0 < 120, "no checkpoint after 120 s"
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    with np.load(ck) as st:
        done = int(st["n_iter"])
    uninterrupted = _child(params, "", ref)
    resumed = _child(params, ck, out)
    for p in (uninterrupted, resumed):
        assert p.wait(300) == 0, p.stderr.read().decode()
    a, b = np.load(ref), np.load(out)
    assert 0 < done < int(a["n_iter"])
    assert int(b["n_iter"]) == int(a["n_iter"])
    np.testing.assert_allclose(b["alphas"], a["alphas"], rtol=1e-8, atol=1e-8 * np.abs(a["alphas"]).max())
    assert not os.path.exists(ck)


def test_checkpoint_without_pcg_is_not_silently_ignored(ethanol, tmp_path):
    """The closed form keeps no checkpoint: asking for one with solver='cholesky' is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="checkpoint"):
            GDMLRegressor(sigma=10.0, solver="cholesky", checkpoint=str(tmp_path / "x.npz")).fit(ethanol[:5])


def test_not_converging_by_the_default_cap_is_an_error(ethanol, tmp_path):
    """With the default max_iter, an unconverged PCG fits no model (the checkpoint keeps the iterate);
    a given max_iter accepts the iterate with a warning."""
    from gdmlkit.exceptions import ConvergenceError

    hard = dict(PARAMS, preconditioner="none", lam=1e-12, tol=1e-14)  # unreachable in 10 sqrt(n) + 1000
    ck = tmp_path / "fit.npz"
    model = GDMLRegressor(**hard, checkpoint=str(ck))
    with pytest.raises(ConvergenceError, match=r"did not converge in \d+ iterations \(the default cap\).*holds the"):
        model.fit(ethanol[:10])
    assert not hasattr(model, "alphas_") and ck.exists()
    with pytest.warns(ConvergenceWarning):
        assert GDMLRegressor(**hard, max_iter=5).fit(ethanol[:10]).solve_info_["converged"] is False
