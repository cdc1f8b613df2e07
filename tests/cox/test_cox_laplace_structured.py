"""Cox grid model with the embedded Laplace marginal on Kronecker and HSGP fields, against the dense field."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers

import bayeskern.cox as cox
from bayeskern.kernels import RBF

RNG = np.random.default_rng(5)
EVENTS = RNG.uniform(0, 1, (150, 2)) ** np.array([1.0, 2.0])
WIN = ((0.0, 1.0), (0.0, 1.0))
KERNEL = RBF(lengthscale=0.3, variance=1.0)


def _logp(field, grid, counts, **kw):
    def model():
        cox.laplace_grid_model(grid, counts, kernel=KERNEL, structure=field, **kw)

    sub = handlers.substitute(handlers.seed(model, 0), data={"f_mean": jnp.asarray(np.log(150.0))})
    tr = handlers.trace(sub).get_trace()
    return float(tr["counts"]["fn"].log_prob(tr["counts"]["value"]))


def test_kronecker_field_matches_dense_with_mask():
    mask = np.ones((8, 8), bool)
    mask[:2, :3] = False  # unobserved cells: the Kronecker field covers them, the dense one leaves them out
    ev = EVENTS[~((EVENTS[:, 0] < 0.25) & (EVENTS[:, 1] < 3 / 8))]
    grid, counts = cox.bin_events(ev, WIN, (8, 8), mask=mask)
    vd = _logp("dense", grid, counts)
    vk = _logp("kronecker", grid, counts, num_probes=128)
    # The dense field over observed cells is the Kronecker field marginalised to them, so the marginals agree
    # up to the SLQ log-det error.
    assert np.isfinite(vk) and abs(vk - vd) < 1.0, (vk, vd)  # 0.86 measured with 32 Jacobi-SLQ probes


def test_structure_argument_is_checked():
    grid, counts = cox.bin_events(EVENTS, WIN, (6, 6))
    with pytest.raises(ValueError, match="structure"):
        _logp("sparse", grid, counts)


@pytest.mark.slow
def test_fit_laplace_kronecker_and_hsgp_agree_with_dense():
    kw = dict(shape=(10, 10), method="laplace", kernel=KERNEL, num_warmup=150, num_samples=150, num_chains=1)
    fits = {f: cox.fit(EVENTS, WIN, structure=f, **kw) for f in ("dense", "kronecker", "hsgp")}
    ref = fits["dense"].intensity_summary()
    z = {}
    for f in ("kronecker", "hsgp"):
        s = fits[f].intensity_summary()
        assert np.all(np.isfinite(s["mean"]))
        z[f] = float(np.max(np.abs(s["mean"] - ref["mean"]) / ref["sd"]))
    # Posterior means within a fraction of the posterior sd (fixed kernel: only the mean is sampled).
    # Measured: Kronecker 0.27 (SLQ error + MC error). HSGP 0.77, largest in the corner cells: the Hilbert-space
    # basis on a box 1.5x the window (the default boundary factor) changes the prior itself near the corners;
    # 20 instead of 10 basis functions per axis gave the same 0.77, so it is the boundary, not the basis size.
    assert z["kronecker"] < 0.6, z
    assert z["hsgp"] < 1.0, z
    assert jax.numpy.isfinite(fits["kronecker"].expected_count().mean())
