"""Issue 15, class 6: errors come from bayeskern, name the argument and say what to do -- not h5py,
JAX or NumPy internals. Also: result objects print short summaries without array dumps."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401
from bayeskern.diagnostics import check
from bayeskern.infer.fit import Fit
from bayeskern.kernels import RBF
from bayeskern.optimize import GPSurrogate, Optimizer
from bayeskern.quadrature import EvidenceResult, Uniform, integrate

UNIT = Uniform([0.0], [1.0])
K = RBF(lengthscale=0.3)  # fixed kernel: no hyperparameter fits in these tests


# -- Fit.load / Optimizer.load -------------------------------------------------------------------

def test_fit_load_of_a_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.nc"
    with pytest.raises(FileNotFoundError, match=r"Fit.load: no file at .*nope\.nc"):
        Fit.load(path)


def test_fit_load_of_random_bytes_names_the_path_and_what_was_expected(tmp_path):
    path = tmp_path / "junk.nc"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"Fit.load: .*junk\.nc.* is not a fit written by Fit.save: expected a netCDF-4"):
        Fit.load(path)


def test_fit_load_of_an_optimizer_file_says_use_optimizer_load(tmp_path):
    opt = Optimizer([[0.0, 1.0]])
    opt.tell([[0.5]], [1.0])
    path = opt.save(tmp_path / "bo.npz")
    with pytest.raises(ValueError, match=r"bo\.npz.*Optimizer.load"):
        Fit.load(path)
    assert Optimizer.load(path).state.X.shape == (1, 1)


def test_optimizer_load_of_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Optimizer.load: no file at .*none\.npz"):
        Optimizer.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ValueError, match=r"junk\.npz.* is not an optimiser saved by Optimizer.save"):
        Optimizer.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz.* not an optimiser .*missing \['X', 'config'"):
        Optimizer.load(other)


# -- diagnostics.check ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{"a": np.zeros((2, 10))}, np.zeros((2, 10)), None, "fit.nc"])
def test_check_of_a_non_fit_is_a_type_error_saying_what_it_takes(bad):
    with pytest.raises(TypeError, match=r"check\(\) takes a bayeskern Fit .* or an ArviZ DataTree.*got "):
        check(bad)


# -- quadrature ----------------------------------------------------------------------------------

def test_precomputed_evaluations_of_different_lengths():
    with pytest.raises(ValueError, match=r"X has 5 point\(s\) but fX has shape \(4,\); pass one value per row"):
        integrate((np.linspace(0, 1, 5), np.ones(4)), UNIT, kernel=K)
    with pytest.raises(ValueError, match=r"fX has shape \(5, 2\)"):
        integrate((np.linspace(0, 1, 5), np.ones((5, 2))), UNIT, kernel=K)
    with pytest.raises(ValueError, match="fX contains NaN"):
        integrate((np.linspace(0, 1, 3), [1.0, np.nan, 2.0]), UNIT, kernel=K)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: math.sin(float(x[0])),  # float() on a tracer
        lambda x: np.sin(x[0]),  # NumPy on a tracer
        lambda x: np.sin(x[0]) if x[0] > 0.5 else np.sin(x[0]),  # Python branching on a value
    ],
)
def test_a_numpy_integrand_is_evaluated_point_by_point(f):
    ref = integrate(lambda x: jnp.sin(x[0]), UNIT, n=8, kernel=K)
    got = integrate(f, UNIT, n=8, kernel=K)
    assert float(got.mean) == pytest.approx(float(ref.mean), rel=1e-12)
    assert float(got.mean) == pytest.approx(1 - math.cos(1.0), abs=1e-3)


def test_a_failing_numpy_integrand_gets_a_note():
    def f(x):
        if float(x[0]) > 0.5:
            raise RuntimeError("user bug")
        return 1.0

    with pytest.raises(RuntimeError, match="user bug") as info:
        integrate(f, UNIT, n=8, kernel=K)
    assert any("could not be traced by JAX" in note for note in info.value.__notes__)


def test_a_non_scalar_integrand_is_named():
    with pytest.raises(ValueError, match=r"f must map a point \(d,\) to a scalar; got output shape \(2,\)"):
        integrate(lambda x: jnp.stack([x[0], x[0]]), UNIT, n=4, kernel=K)


# -- kernels (owned by kernels/base.py) ----------------------------------------------------------

def test_string_lengthscale_is_named():
    with pytest.raises((TypeError, ValueError), match="lengthscale"):
        RBF(lengthscale="1.0")(np.zeros((2, 1)))


# -- reprs without array dumps ---------------------------------------------------------------------

def test_result_reprs_are_short_summaries():
    r = integrate(lambda x: jnp.sin(x[0]), UNIT, n=64, kernel=K)
    for obj, head in ((r, "BQResult("), (r.posterior, "IntegralPosterior(")):
        text = repr(obj)
        assert text.startswith(head) and "mean=" in text and "sd=" in text
        assert "Array" not in text and "[" not in text and len(text) < 200
        html = obj._repr_html_()
        assert html.startswith("<table") and "mean" in html and "Array" not in html
    assert "evaluations=64 in 1-D" in repr(r)
    ev = EvidenceResult(-3.25, 0.01, r.posterior, r.X, jnp.zeros(64), UNIT, {"theta": (1,)})
    assert repr(ev) == ("EvidenceResult(log_evidence=-3.25, relative sd=0.01, evaluations=64, sites=theta)")
    assert "log_evidence" in ev._repr_html_()
    opt = Optimizer([[0.0, 1.0], [0.0, 2.0]], num_initial=100, surrogate=GPSurrogate(noise=1e-6))
    opt.tell(np.random.default_rng(0).random((40, 2)), np.arange(40.0))
    opt.ask()
    text = repr(opt)
    assert text.startswith("Optimizer(") and "told=40 (0 failed)" in text and "pending=1" in text
    assert "best=0" in text and len(text) < 250 and "Array" not in text
    assert "<table>" in opt._repr_html_()
