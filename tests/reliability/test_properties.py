"""Property-based checks of the input boundary (issue 15).

Random valid input must be accepted and give finite (for kernels: symmetric
PSD) results; random invalid input must be refused by bayeskern itself, with
a ``ValueError``/``TypeError`` whose message names the argument at fault,
never by an error from NumPy/JAX/NumPyro internals. Examples are few per
test (JAX compiles per shape), so the file stays fast; ``derandomize`` keeps
CI runs reproducible.
"""

from __future__ import annotations

import math
import re

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayeskern import kernels as K
from bayeskern.gp import GaussianProcess
from bayeskern.quadrature import Empirical, Gaussian, Uniform

FAST = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
MORE = settings(FAST, max_examples=20)
#: Refusals are cheap (no compilation): more examples, so that every bad case is drawn.
MANY = settings(FAST, max_examples=50)

POS = st.floats(0.1, 10.0)
NONNEG = st.one_of(st.just(0.0), POS)
COORD = st.floats(-5.0, 5.0)


def refused(fn, match: str):
    """``fn()`` raises ValueError/TypeError matching ``match``, raised in a bayeskern source file."""
    with pytest.raises((ValueError, TypeError), match=match) as info:
        fn()
    where = str(info.traceback[-1].path)
    assert "/bayeskern/" in where and "site-packages" not in where, (
        f"refused from {where}, not by bayeskern: {info.value!r}"
    )
    return info.value


# -- kernels -------------------------------------------------------------------------------------
# name -> (class, {hyperparameter: kind}, static settings); kinds: "ard" a scalar or one value per
# input dimension, "scalar", "nonneg" a non-negative scalar, "sm_*" spectral-mixture arrays.
STATIONARY = {"lengthscale": "ard", "variance": "scalar"}
FAMILIES = {
    "RBF": (K.RBF, STATIONARY, {}),
    "Matern12": (K.Matern12, STATIONARY, {}),
    "Matern32": (K.Matern32, STATIONARY, {}),
    "Matern52": (K.Matern52, STATIONARY, {}),
    "RationalQuadratic": (K.RationalQuadratic, {**STATIONARY, "alpha": "scalar"}, {}),
    "Periodic": (K.Periodic, {**STATIONARY, "period": "ard"}, {}),
    "Cosine": (K.Cosine, {"period": "ard", "variance": "scalar"}, {}),
    "SpectralMixture": (K.SpectralMixture, {"weights": "sm_q", "means": "sm_qd0", "scales": "sm_qd"}, {}),
    "Linear": (K.Linear, {"variance": "scalar"}, {}),
    "Polynomial": (K.Polynomial, {"variance": "scalar", "offset": "nonneg"}, {"degree": 2}),
    "ArcCosine": (
        K.ArcCosine, {"variance": "scalar", "weight_variance": "ard", "bias_variance": "nonneg"}, {"order": 1},
    ),
    "Constant": (K.Constant, {"variance": "scalar"}, {}),
    "White": (K.White, {"variance": "scalar"}, {}),
    "Scaled": (lambda scale: K.Scaled(K.RBF(lengthscale=0.7), scale=scale), {"scale": "scalar"}, {}),
}


def _draw_valid(data, kind: str, d: int, q: int):
    if kind == "scalar":
        return data.draw(POS)
    if kind == "nonneg":
        return data.draw(NONNEG)
    if kind == "ard":
        return data.draw(st.one_of(POS, st.lists(POS, min_size=d, max_size=d).map(np.array)))
    if kind == "sm_q":
        return np.array(data.draw(st.lists(POS, min_size=q, max_size=q)))
    shape = (q, d)
    elements = st.floats(0.0, 2.0) if kind == "sm_qd0" else st.floats(0.05, 2.0)
    return np.array(data.draw(st.lists(elements, min_size=q * d, max_size=q * d))).reshape(shape)


def _valid_kwargs(data, family: str, d: int):
    _, params, static = FAMILIES[family]
    q = data.draw(st.integers(1, 2))
    return {p: _draw_valid(data, kind, d, q) for p, kind in params.items()}, static


def _inputs(data, n: int, d: int):
    values = np.array(data.draw(st.lists(COORD, min_size=n * d, max_size=n * d)))
    return values if d == 1 and data.draw(st.booleans()) else values.reshape(n, d)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@given(data=st.data())
@FAST
def test_kernel_valid_hyperparameters_give_a_finite_symmetric_psd_gram(family, data):
    d = data.draw(st.sampled_from([1, 2]))
    kwargs, static = _valid_kwargs(data, family, d)
    kernel = FAMILIES[family][0](**kwargs, **static)
    X = _inputs(data, data.draw(st.sampled_from([3, 6])), d)
    G = np.asarray(kernel(X))
    assert G.shape == (len(X), len(X)) and np.all(np.isfinite(G))
    np.testing.assert_allclose(G, G.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(G).max()))
    eig = np.linalg.eigvalsh(0.5 * (G + G.T))
    assert eig.min() >= -1e-8 * max(np.trace(G), 1e-300), (family, kwargs, eig)
    np.testing.assert_allclose(np.asarray(kernel.diag(X)), np.diag(G), rtol=1e-9, atol=1e-12)


def _invalid_value(data, kind: str, d: int, q: int):
    """``(value, exception class or None)``: one bad entry in an otherwise valid value."""
    bad = data.draw(st.sampled_from(["nonpositive", "nan", "inf", "string", "none", "complex", "bool", "object"]))
    if bad == "nonpositive":
        # zero is allowed for non-negative kinds, so those get a strictly negative value
        hi = -1e-6 if kind in ("nonneg", "sm_qd0") else 0.0
        entry = data.draw(st.floats(-1e6, hi))
    else:
        entry = {"nan": math.nan, "inf": data.draw(st.sampled_from([math.inf, -math.inf])), "string": "1.0",
                 "none": None, "complex": 1.0 + 0.5j, "bool": True, "object": object()}[bad]
    good = _draw_valid(data, kind, d, q)
    if np.ndim(good) == 0 or bad in ("string", "none", "object", "bool"):
        return entry
    arr = np.array(good, dtype=complex if bad == "complex" else float)
    arr.flat[data.draw(st.integers(0, arr.size - 1))] = entry
    return arr


@pytest.mark.parametrize("family", sorted(FAMILIES))
@given(data=st.data())
@FAST
def test_kernel_invalid_hyperparameter_is_refused_by_name(family, data):
    d = data.draw(st.sampled_from([1, 2]))
    kwargs, static = _valid_kwargs(data, family, d)
    q = len(kwargs["weights"]) if "weights" in kwargs else 1
    _, params, _ = FAMILIES[family]
    name = data.draw(st.sampled_from(sorted(params)))
    kwargs[name] = _invalid_value(data, params[name], d, q)
    err = refused(lambda: FAMILIES[family][0](**kwargs, **static), rf"\b{name}\b")
    if family != "Scaled":
        assert family in str(err)


@pytest.mark.parametrize("family", sorted(f for f, (_, params, _) in FAMILIES.items() if "ard" in params.values()))
@given(data=st.data())
@FAST
def test_kernel_wrong_ard_length_is_refused_by_name(family, data):
    d = data.draw(st.sampled_from([1, 2]))
    wrong = d + data.draw(st.integers(1, 2))
    kwargs, static = _valid_kwargs(data, family, d)
    _, params, _ = FAMILIES[family]
    ard = sorted(p for p, kind in params.items() if kind == "ard")
    name = data.draw(st.sampled_from(ard))
    for p in ard:  # every ARD hyperparameter one length, so only the inputs disagree
        kwargs[p] = np.full(wrong, 0.5)
    kernel = FAMILIES[family][0](**kwargs, **static)
    X = _inputs(data, 4, d)
    refused(lambda: kernel(X), rf"\b{name}\b")
    refused(lambda: GaussianProcess(kernel, X, noise=0.1), r"input dimension")


# -- GaussianProcess --------------------------------------------------------------------------------

KERNEL = K.Matern52(lengthscale=1.3, variance=0.8)


@given(data=st.data())
@MORE
def test_gp_valid_inputs_give_a_finite_log_prob(data):
    n = data.draw(st.sampled_from([2, 5]))
    d = data.draw(st.sampled_from([1, 2]))
    X = _inputs(data, n, d)
    noise = data.draw(st.one_of(
        st.floats(1e-3, 1.0), st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n).map(np.array)
    ))
    mean = data.draw(st.one_of(
        st.none(), COORD, st.lists(COORD, min_size=n, max_size=n).map(np.array), st.just(lambda x: np.zeros(n))
    ))
    y = np.array(data.draw(st.lists(st.floats(-10.0, 10.0), min_size=n, max_size=n)))
    gp = GaussianProcess(KERNEL, X, noise=noise, mean=mean)
    assert gp.event_shape == (n,)
    lp = float(gp.log_prob(y))
    assert np.isfinite(lp)


def _bad_gp_case(data):
    """``(build, argument regex)`` for one invalid GaussianProcess argument."""
    n = data.draw(st.sampled_from([3, 5]))
    X = np.linspace(0.0, 1.0, n)
    case = data.draw(st.sampled_from([
        "X_nan", "X_inf", "X_3d", "X_empty", "X_string", "X_complex", "X_object",
        "noise_negative", "noise_nan", "noise_length", "noise_string",
        "mean_length", "mean_nan", "mean_string", "y_length", "y_string", "y_nan",
    ]))
    arg, what = case.split("_", 1)
    if arg == "X":
        if what in ("nan", "inf"):
            bad = X.copy()
            bad[data.draw(st.integers(0, n - 1))] = math.nan if what == "nan" else data.draw(
                st.sampled_from([math.inf, -math.inf]))
        else:
            bad = {"3d": np.zeros((n, 2, 2)), "empty": np.zeros(data.draw(st.sampled_from([(0,), (0, 2), (n, 0)]))),
                   "string": [str(v) for v in X], "complex": X + 1j,
                   "object": np.array([*X[:-1], None], dtype=object)}[what]
        return (lambda: GaussianProcess(KERNEL, bad, noise=0.1)), r"\bX\b"
    if arg == "noise":
        if what == "negative":
            bad = data.draw(st.one_of(
                st.floats(-1e3, -1e-6), st.just(np.r_[np.full(n - 1, 0.1), -data.draw(st.floats(1e-6, 1e3))])
            ))
        elif what == "length":
            bad = np.full(data.draw(st.sampled_from([n - 1, n + 1, 2 * n])), 0.1)
        else:
            bad = {"nan": data.draw(st.sampled_from([math.nan, np.r_[np.full(n - 1, 0.1), math.nan]])),
                   "string": "0.1"}[what]
        return (lambda: GaussianProcess(KERNEL, X, noise=bad)), r"\bnoise\b"
    if arg == "mean":
        bad = {"length": np.zeros(data.draw(st.sampled_from([n - 1, n + 1]))),
               "nan": data.draw(st.sampled_from([math.nan, np.r_[np.zeros(n - 1), math.inf]])),
               "string": "0.0"}[what]
        return (lambda: GaussianProcess(KERNEL, X, noise=0.1, mean=bad)), r"\bmean\b"
    gp = GaussianProcess(KERNEL, X, noise=0.1)
    bad = {"length": np.zeros(data.draw(st.sampled_from([n - 1, n + 1, 1]))),
           "string": np.array(["0.5"] * n), "nan": np.r_[np.zeros(n - 1), math.nan]}[what]
    return (lambda: gp.log_prob(bad)), r"\by\b|\bvalue\b"


@given(data=st.data())
@MANY
def test_gp_invalid_argument_is_refused_by_name(data):
    build, arg = _bad_gp_case(data)
    refused(build, arg)


# -- quadrature measures -----------------------------------------------------------------------------

def _vector(d, elements=COORD):
    return st.lists(elements, min_size=d, max_size=d).map(np.array)


@given(data=st.data())
@settings(FAST, max_examples=12)
def test_measures_valid_parameters_give_finite_draws_and_moments(data):
    d = data.draw(st.integers(1, 2))
    key = jax.random.PRNGKey(data.draw(st.integers(0, 2**16)))
    kind = data.draw(st.sampled_from(["uniform", "gaussian", "empirical"]))
    if kind == "uniform":
        lo = data.draw(_vector(d))
        hi = lo + data.draw(_vector(d, st.floats(1e-3, 10.0)))
        m = Uniform(lo, hi, normalized=data.draw(st.booleans()))
        x = np.asarray(m.sample(key, 8))
        assert np.all((x >= lo) & (x <= hi))
        assert np.isfinite(float(m.volume)) and float(m.mass) > 0
    elif kind == "gaussian":
        mu = data.draw(_vector(d))
        A = np.array(data.draw(st.lists(st.floats(-2.0, 2.0), min_size=d * d, max_size=d * d))).reshape(d, d)
        cov = data.draw(st.sampled_from(["full", "diag", "scalar"]))
        c = {"full": A @ A.T + 0.1 * np.eye(d), "diag": np.diag(A @ A.T) + 0.1, "scalar": 0.5}[cov]
        m = Gaussian(mu, c)
        x = np.asarray(m.sample(key, 8))
        dens = np.asarray(m.density(x))
        assert np.all(np.isfinite(dens)) and np.all(dens >= 0)
        np.testing.assert_allclose(np.asarray(m.chol) @ np.asarray(m.chol).T, np.asarray(m.cov), rtol=1e-9, atol=1e-12)
    else:
        k = 3  # one shape: jax.random.choice compiles per number of points
        pts = np.array(data.draw(st.lists(COORD, min_size=k * d, max_size=k * d))).reshape(k, d)
        w = data.draw(st.one_of(st.none(), st.lists(st.floats(0.0, 5.0), min_size=k, max_size=k).filter(
            lambda v: sum(v) > 1e-3).map(np.array)))
        m = Empirical(pts, w)
        x = np.asarray(m.sample(key, 8))
        assert all(any(np.array_equal(row, p) for p in pts) for row in x)
        np.testing.assert_allclose(float(m.mass), 1.0 if w is None else w.sum(), rtol=1e-12)
    assert m.dim == d and np.all(np.isfinite(x)) and x.shape == (8, d)


def _bad_measure_case(data):
    """``(build, argument regex)`` for one invalid measure parameter."""
    d = data.draw(st.integers(1, 3))
    lo = data.draw(_vector(d))
    hi = lo + 1.0
    case = data.draw(st.sampled_from([
        "uniform_order", "uniform_nonfinite", "uniform_string", "uniform_shape", "uniform_empty",
        "gaussian_nonpsd", "gaussian_asym", "gaussian_nonfinite", "gaussian_cov_shape", "gaussian_string",
        "empirical_negative", "empirical_zero_sum", "empirical_length", "empirical_nan_weight",
        "empirical_nan_point", "empirical_string",
    ]))
    if case == "uniform_order":
        i = data.draw(st.integers(0, d - 1))
        bad_hi = hi.copy()
        bad_hi[i] = lo[i] - data.draw(st.floats(0.0, 10.0))
        return (lambda: Uniform(lo, bad_hi)), r"\bupper\b"
    if case == "uniform_nonfinite":
        bad = lo.copy()
        bad[data.draw(st.integers(0, d - 1))] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return (lambda: Uniform(bad, hi)), r"\blower\b"
    if case == "uniform_string":
        return (lambda: Uniform(lo, [str(v) for v in hi])), r"\bupper\b"
    if case == "uniform_shape":
        return (lambda: Uniform(lo, np.r_[hi, 1.0] if d > 1 else np.ones((2, 2)))), r"\blower\b.*\bupper\b"
    if case == "uniform_empty":
        return (lambda: Uniform(np.zeros(0), np.zeros(0))), r"\blower\b.*\bupper\b"
    if case.startswith("gaussian"):
        A = np.array(data.draw(st.lists(st.floats(-2.0, 2.0), min_size=d * d, max_size=d * d))).reshape(d, d)
        S = A @ A.T + 0.1 * np.eye(d)
        if case == "gaussian_nonpsd":
            # flip the sign of one eigenvalue: symmetric, not positive definite
            w, V = np.linalg.eigh(S)
            w[0] = -data.draw(st.floats(1e-3, 10.0))
            return (lambda: Gaussian(lo, (V * w) @ V.T)), r"\bcov\b"
        if case == "gaussian_asym":
            if d == 1:
                return (lambda: Gaussian(lo, -data.draw(st.floats(0.0, 10.0)))), r"\bcov\b"
            B = S.copy()
            B[0, 1] += data.draw(st.floats(0.1, 5.0))
            return (lambda: Gaussian(lo, B)), r"\bcov\b"
        if case == "gaussian_nonfinite":
            bad = lo.copy()
            bad[0] = data.draw(st.sampled_from([math.nan, math.inf]))
            return (lambda: Gaussian(bad, S)), r"\bmean\b"
        if case == "gaussian_cov_shape":
            shape = data.draw(st.sampled_from([(d + 1,), (d, d + 1), (d, d, 1)]))
            return (lambda: Gaussian(lo, np.ones(shape))), r"\bcov\b"
        return (lambda: Gaussian(lo, "1.0")), r"\bcov\b"
    k = data.draw(st.integers(2, 5))
    pts = np.array(data.draw(st.lists(COORD, min_size=k * d, max_size=k * d))).reshape(k, d)
    w = np.ones(k)
    if case == "empirical_negative":
        w[data.draw(st.integers(0, k - 1))] = -data.draw(st.floats(1e-6, 1e3))
    elif case == "empirical_zero_sum":
        w = np.zeros(k)
    elif case == "empirical_length":
        w = np.ones(k + data.draw(st.sampled_from([-1, 1])))
    elif case == "empirical_nan_weight":
        w[0] = data.draw(st.sampled_from([math.nan, math.inf]))
    elif case == "empirical_string":
        return (lambda: Empirical(pts, [str(v) for v in w])), r"\bweights\b"
    else:
        pts[0, 0] = data.draw(st.sampled_from([math.nan, math.inf]))
        return (lambda: Empirical(pts, w)), r"\bpoints\b"
    return (lambda: Empirical(pts, w)), r"\bweights\b"


@given(data=st.data())
@MANY
def test_measures_invalid_parameter_is_refused_by_name(data):
    build, arg = _bad_measure_case(data)
    err = refused(build, arg)
    assert re.search(arg, str(err))
