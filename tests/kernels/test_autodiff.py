"""AD kernels: coefficients against closed forms, blocks against the hand-derived Matérn kernel and against double
autograd of k(x(R), x(R')), the operator through the shared contract, the predictor, fits and model files."""

import numpy as np
import pytest
import torch

from gdmlkit import GDMLRegressor, find_permutations, find_spacegroup_symmetry, load_example, load_model
from gdmlkit.data import example_path
from gdmlkit.descriptors import (AutodiffInverseDistanceDescriptor, InverseDistanceDescriptor,
                                 MinimumImageDescriptor, MorseDescriptor, PairDescriptor)
from gdmlkit.kernels import HessianKernelOperator
from gdmlkit.kernels.autodiff import AutodiffKernelOperator
from gdmlkit.kernels.dense import kernel_blocks
from gdmlkit.kernels.matern import matern52, matern52_coefficients
from gdmlkit.kernels.radial import GaussianKernel, Matern52Kernel, RadialKernel
from gdmlkit.models.predictor import GDMLPredictor
from gdmlkit.symmetry import permutation_desc_index

from operator_contract import KernelOperatorContract


def ethanol(n=10):
    train = load_example("ethanol_train")[:n]
    return train, permutation_desc_index(find_permutations(train.R, train.z))


def test_matern_coefficients_equal_the_closed_form():
    """At distances from 0 (the diagonal) through the Taylor branch's edge to far apart."""
    sigma = 7.0
    r = torch.tensor([0.0, 1e-12, 3e-5, 7e-4 * 0.999, 7e-4 * 1.001, 1e-2, 0.5, 3.0, 20.0, 80.0], dtype=torch.float64)
    a, b, k = Matern52Kernel().coefficients(r, sigma, with_value=True)
    a0, b0 = matern52_coefficients(r, sigma)
    np.testing.assert_allclose(a.numpy(), a0.numpy(), rtol=1e-11, atol=0)
    # b enters as a - b r^2 (the curvature along x - x'); its Taylor branch is O(r / sigma) off, far below a there
    np.testing.assert_allclose((a - b * r * r).numpy(), (a0 - b0 * r * r).numpy(), rtol=1e-11,
                               atol=1e-13 * float(a0[0]))
    np.testing.assert_allclose(b[6:].numpy(), b0[6:].numpy(), rtol=1e-9)
    np.testing.assert_allclose(k.numpy(), matern52(r, sigma).numpy(), rtol=1e-14)


def test_gaussian_coefficients_equal_the_closed_form():
    sigma = 2.0
    r = torch.tensor([0.0, 1e-9, 0.1, 1.0, 4.0, 9.0], dtype=torch.float64)
    a, b, k = GaussianKernel().coefficients(r, sigma, with_value=True)
    ref = torch.exp(-r**2 / (2 * sigma**2))
    np.testing.assert_allclose(a.numpy(), (ref / sigma**2).numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), (ref / sigma**4).numpy(), rtol=1e-7, atol=1e-13)
    np.testing.assert_allclose(k.numpy(), ref.numpy(), rtol=1e-14)


def test_blocks_equal_the_hand_derived_kernel():
    train, dp = ethanol(6)
    R = torch.from_numpy(train.R)
    (x, g), (xa, ga) = InverseDistanceDescriptor(9).transform(R), AutodiffInverseDistanceDescriptor(9).transform(R)
    J, Ja = InverseDistanceDescriptor(9).jacobian(g), AutodiffInverseDistanceDescriptor(9).jacobian(ga)
    dpt = torch.from_numpy(dp)
    hand = kernel_blocks(x[:3], J[:3], x[:, dpt], J[:, dpt], 10.0, use_E=True)
    ad = kernel_blocks(xa[:3], Ja[:3], xa[:, dpt], Ja[:, dpt], 10.0, use_E=True, kernel=Matern52Kernel())
    for name in ("FF", "FE", "EF", "EE"):
        np.testing.assert_allclose(ad[name].numpy(), hand[name].numpy(), rtol=1e-10,
                                   atol=1e-12 * hand[name].abs().max().item())


def test_blocks_equal_double_autograd_of_the_kernel():
    """FF = d^2 k / dR dR'^T, FE = -dk/dR, EF = -dk/dR', EE = k of k(x(R), x(R')) = kappa(|x - x'|), Morse
    descriptor and Gaussian kernel, by torch.func on Cartesian coordinates (no permutations)."""
    train, _ = ethanol(3)
    desc, kernel, sigma = MorseDescriptor(train.z), GaussianKernel(), 0.8
    R = torch.from_numpy(train.R)
    x, g = desc.transform(R)
    J = desc.jacobian(g)
    blk = kernel_blocks(x[:1], J[:1], x[1:, None], J[1:, None], sigma, use_E=True, kernel=kernel)
    k = lambda A, B: kernel(desc.forward(A), desc.forward(B), sigma)  # noqa: E731
    for j, Rj in enumerate(R[1:]):
        FF = torch.func.jacfwd(torch.func.grad(k, argnums=0), argnums=1)(R[0], Rj).reshape(27, 27)
        cols = slice(27 * j, 27 * (j + 1))
        np.testing.assert_allclose(blk["FF"][:, cols].numpy(), FF.numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(blk["FE"][:, j].numpy(), -torch.func.grad(k)(R[0], Rj).reshape(-1).numpy(),
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(blk["EF"][0, cols].numpy(),
                                   -torch.func.grad(k, argnums=1)(R[0], Rj).reshape(-1).numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(float(blk["EE"][0, j]), float(k(R[0], Rj)), rtol=1e-14)


@pytest.mark.parametrize("coordinates", ["cartesian", "internal"])
@pytest.mark.parametrize("pair_symmetry", [True, False])
def test_operator_equals_the_hand_derived_operator(coordinates, pair_symmetry):
    train, dp = ethanol(12)
    kw = dict(lam=1e-4, coordinates=coordinates, pair_symmetry=pair_symmetry, tile_rows=5)
    hand = HessianKernelOperator(train.R, dp, 10.0, **kw)
    ad = AutodiffKernelOperator(train.R, dp, 10.0, kernel="matern52", descriptor=AutodiffInverseDistanceDescriptor(9),
                                **kw)
    assert ad.symmetric == hand.symmetric == pair_symmetry
    V = np.random.default_rng(0).normal(size=(hand.shape[0], 2))
    close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10,  # noqa: E731
                                                    atol=1e-12 * np.abs(np.asarray(b)).max())
    close(ad.matvec(V), hand.matvec(V))
    cols = [0, 7, 40, 41, 100]
    close(ad.columns(cols), hand.columns(cols))
    close(ad.diagonal(), hand.diagonal())
    close(ad.to_dense(), hand.to_dense())


def test_operator_rejects_keops():
    train, dp = ethanol(3)
    with pytest.raises(ValueError, match="only the torch backend"):
        AutodiffKernelOperator(train.R, dp, 10.0, kernel="gaussian", backend="keops")


class TestAutodiffMorseGaussian(KernelOperatorContract):
    def make_operator(self):
        train, dp = ethanol(5)
        return AutodiffKernelOperator(train.R, dp, 1.0, lam=1e-2, kernel=GaussianKernel(), coordinates="internal",
                                      descriptor=MorseDescriptor(train.z), tile_rows=3)


class TestAutodiffCached(KernelOperatorContract):
    def make_operator(self):
        train, dp = ethanol(5)
        return AutodiffKernelOperator(train.R, dp, 1.0, lam=1e-2, kernel=GaussianKernel(), cache_coefficients=True,
                                      descriptor=MorseDescriptor(train.z))


class TestAutodiffMinimumImage(KernelOperatorContract):
    """Minimum-image Morse distances under the 48 operations of Pd32H's Pm-3m group."""

    def make_operator(self):
        data = load_example("pdh_emt")[:3]
        ideal = np.load(example_path("pdh_emt"))["R_ideal"]
        group = find_spacegroup_symmetry(ideal, data.z, data.cell[0], data.pbc)
        desc = MinimumImageDescriptor(MorseDescriptor(data.z), data.cell[0], data.pbc)
        return AutodiffKernelOperator(data.R, desc.permutation_index(group.perms), 3.0, lam=1e-2,
                                      kernel="matern52", descriptor=desc, coordinates="internal")


def test_periodic_ad_operator_equals_the_hand_derived():
    data = load_example("pdh_emt")[:4]
    ideal = np.load(example_path("pdh_emt"))["R_ideal"]
    dp = permutation_desc_index(find_spacegroup_symmetry(ideal, data.z, data.cell[0], data.pbc).perms)
    n_atoms = data.R.shape[1]
    ad = AutodiffKernelOperator(data.R, dp, 3.2, lam=1e-4, kernel="matern52", descriptor=MinimumImageDescriptor(
        AutodiffInverseDistanceDescriptor(n_atoms), data.cell[0], data.pbc))
    from gdmlkit.descriptors import PeriodicInverseDistanceDescriptor
    hand = HessianKernelOperator(data.R, dp, 3.2, lam=1e-4,
                                 descriptor=PeriodicInverseDistanceDescriptor(n_atoms, data.cell[0], data.pbc))
    V = np.random.default_rng(0).normal(size=hand.shape[0])
    np.testing.assert_allclose(ad.matvec(V), hand.matvec(V), rtol=1e-10, atol=1e-12 * np.abs(hand.matvec(V)).max())


def test_predictor_equals_the_hand_derived():
    """Same fitted coefficients, energy constraints included: AD descriptor + AD Matérn against the hand path."""
    train, _ = ethanol(20)
    model = GDMLRegressor(sigma=10.0, lam=1e-5, use_E_cstr=True).fit(train)  # coefficients O(|F|), no cancellation
    test = load_example("ethanol_test")[:30]
    args = (model.R_desc_, model.R_d_desc_alpha_, model._desc_perms(model.perms_), 10.0, model.c_, 9)
    hand = GDMLPredictor(*args, alphas_E=model.alphas_E_).predict(test.R)
    ad = GDMLPredictor(*args, alphas_E=model.alphas_E_, descriptor=AutodiffInverseDistanceDescriptor(9),
                       kernel=Matern52Kernel()).predict(test.R)
    np.testing.assert_allclose(ad[0], hand[0], rtol=1e-10)
    np.testing.assert_allclose(ad[1], hand[1], rtol=1e-10, atol=1e-10 * np.abs(hand[1]).max())


@pytest.mark.parametrize("solver", ["cholesky", "pcg"])
def test_fit_equals_the_hand_derived_fit(solver):
    """Well-conditioned (lam 1e-6) so that the 1e-15 kernel agreement carries to the predictions."""
    train, _ = ethanol(30)
    test = load_example("ethanol_test")[:20]
    kw = dict(sigma=10.0, lam=1e-6, solver=solver, tol=1e-12, random_state=0)
    hand = GDMLRegressor(**kw).fit(train)
    ad = GDMLRegressor(descriptor=AutodiffInverseDistanceDescriptor(9), kernel="matern52", **kw).fit(train)
    (E0, F0), (E1, F1) = hand.predict(test), ad.predict(test)
    np.testing.assert_allclose(F1, F0, rtol=1e-8, atol=1e-8 * np.abs(F0).max())
    np.testing.assert_allclose(E1, E0, rtol=1e-10)


def test_pcg_and_closed_form_agree_on_a_new_descriptor():
    train, _ = ethanol(30)
    test = load_example("ethanol_test")[:20]
    kw = dict(sigma=4.0, lam=1e-6, descriptor=MorseDescriptor(train.z), kernel="gaussian", random_state=0)
    direct = GDMLRegressor(solver="cholesky", **kw).fit(train)
    iterative = GDMLRegressor(solver="pcg", tol=1e-10, preconditioner="cholesky", n_inducing=60, **kw).fit(train)
    assert iterative.solve_info_["converged"] and iterative.solve_info_["rank"] == 60
    F0, F1 = direct.predict(test)[1], iterative.predict(test)[1]
    np.testing.assert_allclose(F1, F0, rtol=1e-6, atol=1e-6 * np.abs(F0).max())
    assert np.abs(F0 - test.F).mean() < 0.5 * np.abs(test.F).mean()  # it learnt something


class Cubed(PairDescriptor):
    """A user-written pair descriptor (1/r^3): fits, but its model cannot be saved."""

    def pair_function(self, r):
        return r ** -3


class Laplace(RadialKernel):
    name = "laplace-like"

    def profile(self, r, sigma):
        return 1.0 / (1.0 + (r / sigma) ** 2)


def test_save_and_load(tmp_path):
    train, _ = ethanol(15)
    test = load_example("ethanol_test")[:5]
    model = GDMLRegressor(sigma=1.0, descriptor=MorseDescriptor(train.z, alpha=2.0), kernel=GaussianKernel()).fit(train)
    model.save(tmp_path / "m.npz")
    again = load_model(tmp_path / "m.npz")
    assert isinstance(again.descriptor, MorseDescriptor) and again.descriptor.alpha == 2.0
    assert again.kernel == GaussianKernel()
    for a, b in zip(again.predict(test), model.predict(test)):
        np.testing.assert_array_equal(a, b)
    for kw in (dict(descriptor=Cubed(9)), dict(kernel=Laplace())):
        user = GDMLRegressor(sigma=1.0, **kw).fit(train)
        assert np.isfinite(user.predict(test)[1]).all()
        with pytest.raises(TypeError, match="cannot be saved"):
            user.save(tmp_path / "user.npz")
        assert not (tmp_path / "user.npz").exists()


def test_parameter_errors():
    train, _ = ethanol(5)
    with pytest.raises(ValueError, match="Unknown kernel 'matern'"):
        GDMLRegressor(kernel="matern").fit(train)
    with pytest.raises(ValueError, match="descriptor is for 4 atoms"):
        GDMLRegressor(descriptor=MorseDescriptor([1, 1, 1, 1])).fit(train)


@pytest.mark.slow
def test_compiled_coefficients_equal_eager():
    """torch.compile of the nested forward-mode derivative (one compilation, ~10-30 s): same operator products."""
    train, dp = ethanol(12)
    kw = dict(lam=1e-4, coordinates="internal", descriptor=MorseDescriptor(train.z))
    eager = AutodiffKernelOperator(train.R, dp, 1.0, kernel=GaussianKernel(), **kw)
    compiled = AutodiffKernelOperator(train.R, dp, 1.0, kernel=GaussianKernel(compiled=True), **kw)
    V = np.random.default_rng(0).normal(size=(eager.shape[0], 2))
    ref = eager.matvec(V)
    np.testing.assert_allclose(compiled.matvec(V), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    r = torch.linspace(0.0, 6.0, 200_001, dtype=torch.float64)  # several compiled chunks, the last one padded
    for got, want in zip(GaussianKernel(compiled=True).coefficients(r, 1.0, with_value=True),
                         GaussianKernel().coefficients(r, 1.0, with_value=True)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("solver", ["cholesky", "pcg"])
def test_fit_solves_the_system_of_its_kernel(solver):
    """The fitted coefficients solve (K + lam I) alpha = F with K the Gaussian kernel's (AutodiffKernelOperator's dense
    matrix), not the Matérn one: the estimator passes its kernel to both solvers."""
    train, dp = ethanol(12)
    kw = dict(sigma=4.0, lam=1e-4, descriptor=MorseDescriptor(train.z))
    model = GDMLRegressor(kernel="gaussian", solver=solver, tol=1e-12, **kw).fit(train)
    for kernel, holds in (("gaussian", True), ("matern52", False)):
        op = AutodiffKernelOperator(train.R, dp, 4.0, 1e-4, kernel=kernel, descriptor=kw["descriptor"],
                                    coordinates="internal")  # the fit's coordinates: rigid motions projected out
        K = AutodiffKernelOperator(train.R, dp, 4.0, 1e-4, kernel=kernel, descriptor=kw["descriptor"]).to_dense()
        r = op.project((K @ model.alphas_.ravel() - train.F.ravel()).reshape(train.F.shape))
        residual = np.abs(r).max() / np.abs(train.F).max()
        assert (residual < 1e-8) == holds, (kernel, residual)
