"""Short reprs and HTML tables of kernels, GaussianProcess and Fit (bayeskern._display)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayeskern  # noqa: F401  (float64 on)
from bayeskern._display import call_repr, html_table, short
from bayeskern.gp import GaussianProcess
from bayeskern.infer.fit import Fit
from bayeskern.kernels import RBF, Matern52, Periodic


def assert_short(text):
    assert len(text) < 300, text
    assert "Array(" not in text and "array(" not in text and "\n" not in text, text


def assert_table(text):
    assert text.startswith("<") and "<table" in text and "</table>" in text and "<tr>" in text


def test_short_formats_numbers_small_and_large_arrays_and_tracers():
    assert short(0.5) == "0.5" and short(3) == "3" and short(None) == "None" and short("dense") == "'dense'"
    assert short(np.float64(1 / 3)) == "0.3333"
    assert short(np.array([0.5, 2.0])) == "[0.5, 2]"
    assert short(jnp.array([[0.5], [2.0]])) == "[[0.5], [2]]"
    assert short(np.linspace(0.1, 2.0, 100)) == "(100,) float64 in [0.1, 2]"
    seen = []
    jax.jit(lambda x: seen.append(short(x)) or x)(jnp.ones((3, 2)))
    assert seen == ["<traced (3, 2)>"]
    assert call_repr("K", {"a": "1"}, ["x"]) == "K(x, a=1)"
    table = html_table("T", {"a<b": "x&y", "n": np.arange(10)})
    assert_table(table)
    assert "a&lt;b" in table and "x&amp;y" in table and "(10,) int" in table


def test_kernel_reprs_show_class_and_values():
    k = Matern52(lengthscale=0.5, variance=1.2)
    assert repr(k) == "Matern52(lengthscale=0.5, variance=1.2)"
    ard = RBF(lengthscale=[1.0, 2.0])
    assert repr(ard) == "RBF(lengthscale=[1, 2], variance=1)"
    big = RBF(lengthscale=np.linspace(1.0, 2.0, 10))
    assert "lengthscale=(10,) float64 in [1, 2]" in repr(big)
    s = RBF(lengthscale=0.3) + Periodic(period=2.0) * Matern52(lengthscale=1.5)
    assert repr(s) == (
        "Sum(RBF(lengthscale=0.3, variance=1), "
        "Product(Periodic(lengthscale=1, variance=1, period=2), Matern52(lengthscale=1.5, variance=1)))"
    )
    assert repr(2.0 * RBF(active_dims=[1])) == "Scaled(RBF(lengthscale=1, variance=1, active_dims=(1,)), scale=2)"
    assert repr(RBF().warp(jnp.log)) == "Warped(RBF(lengthscale=1, variance=1), transform=log)"
    for kern in (k, ard, big, s):
        assert_short(repr(kern))
        html = kern._repr_html_()
        assert_table(html)
        assert type(kern).__name__ in html
    assert "lengthscale" in k._repr_html_() and "0.5" in k._repr_html_()
    assert "component 2" in s._repr_html_()
    batched = Matern52(lengthscale=jnp.array([[0.5], [2.0]]))
    assert "lengthscale=[[0.5], [2]]" in repr(batched) and "batch shape" in batched._repr_html_()


def test_kernel_repr_inside_jit_shows_tracers():
    seen = []

    @jax.jit
    def f(ell, var):
        k = Matern52(lengthscale=ell, variance=var) + RBF(lengthscale=ell)
        seen.append((repr(k), k._repr_html_()))
        return k(jnp.ones((2, 3))).sum()

    f(jnp.ones(3), 1.0)
    text, html = seen[0]
    assert_short(text)
    assert "Matern52(lengthscale=<traced (3,)>, variance=<traced ()>)" in text
    assert_table(html)
    assert "&lt;traced (3,)&gt;" in html


def test_gaussian_process_repr_names_kernel_noise_mean_backend_and_sizes():
    X = np.linspace(0.0, 1.0, 50)
    gp = GaussianProcess(Matern52(lengthscale=0.5), X, noise=0.01)
    assert repr(gp) == (
        "GaussianProcess(kernel=Matern52(lengthscale=0.5, variance=1), n=50, d=1, noise=0.01, mean=zero, structure='dense')"
    )
    big = np.linspace(0.0, 10.0, 300)
    hetero = GaussianProcess(Matern52(lengthscale=2.0), big, noise=np.linspace(0.1, 0.2, 300), mean=np.sin)
    text = repr(hetero)
    assert_short(text)
    assert "structure='kalman'" in text and "noise=(300,) float64 in [0.1, 0.2]" in text and "mean=sin" in text
    assert "n=300" in text
    const = GaussianProcess(RBF(lengthscale=[1.0, 2.0]), np.ones((4, 2)) * np.arange(4.0)[:, None], mean=1.5)
    assert "d=2" in repr(const) and "mean=1.5" in repr(const) and "noise=0" in repr(const)
    batched = GaussianProcess(Matern52(lengthscale=jnp.array([[0.5], [2.0]])), X, noise=0.1)
    assert "batch_shape=(2,)" in repr(batched)
    for p in (gp, hetero, const, batched):
        html = p._repr_html_()
        assert_table(html)
        assert "structure" in html and "kernel" in html and ("Matern52" in html or "RBF" in html)


def test_gaussian_process_repr_inside_jit():
    seen = []

    @jax.jit
    def f(ell, noise):
        gp = GaussianProcess(Matern52(lengthscale=ell), jnp.linspace(0.0, 1.0, 5), noise=noise)
        seen.append(repr(gp))
        return gp.log_prob(jnp.zeros(5))

    f(0.5, 0.1)
    assert_short(seen[0])
    assert "lengthscale=<traced ()>" in seen[0] and "noise=<traced ()>" in seen[0] and "n=5" in seen[0]


def _fit(**kw):
    rng = np.random.default_rng(0)
    samples = {"ell": rng.lognormal(size=(2, 50)), "f": rng.normal(size=(2, 50, 3))}
    return Fit(samples, method="nuts", **kw)


def test_fit_repr_shows_method_draws_sites_and_log_likelihood_state():
    stats = {"diverging": np.zeros((2, 50), bool), "reached_max_tree_depth": np.zeros((2, 50), bool)}
    stats["diverging"][0, :3] = True
    fit = _fit(sample_stats=stats, log_likelihood={"y": np.zeros((2, 50, 4))}, observed_data={"y": np.zeros(4)})
    text = repr(fit)
    assert_short(text)
    assert text == (
        "Fit(method='nuts', draws=2 chains x 50, sites=[ell, f(3,)], log_likelihood=yes (y), "
        "sampler=3 divergences, 0 max-tree-depth hits)"
    )
    html = fit._repr_html_()
    assert_table(html)
    for fact in ("nuts", "2 chains x 50", "site f", "(3,)", "3 divergences", "bayeskern.diagnostics.check", "y(4,)"):
        assert fact in html, fact
    bare = _fit()
    assert repr(bare) == "Fit(method='nuts', draws=2 chains x 50, sites=[ell, f(3,)], log_likelihood=no)"


def test_fit_repr_never_computes_the_log_likelihood():
    calls = []

    def model(y=None):
        calls.append(1)
        raise AssertionError("repr must not run the model")

    fit = _fit(model=model, observed_data={"y": np.zeros(4)})
    assert "log_likelihood=computed on first use" in repr(fit)
    assert_table(fit._repr_html_())
    assert calls == []


@pytest.mark.parametrize("text", ["Fit(", "GaussianProcess(", "Matern52("])
def test_no_reprs_contain_numpy_array_dumps(text):
    X = np.linspace(0.0, 1.0, 40)
    objs = {"Fit(": _fit(), "GaussianProcess(": GaussianProcess(Matern52(), X, noise=np.full(40, 0.1)),
            "Matern52(": Matern52(lengthscale=np.linspace(1, 2, 40))}
    out = repr(objs[text])
    assert out.startswith(text)
    assert not re.search(r"\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+", out)  # no space-separated numeric dumps
