"""The BQ posterior over an integral ``F = ∫ f dπ`` given evaluations ``y = f(X)`` (+ noise).

With ``f ~ GP(m, k)`` and ``K = k(X, X) + diag(noise)``, ``F | y`` is Gaussian
(O'Hagan 1991; Briol et al. 2019):

* ``E[F] = ∫ m dπ + zᵀ K⁻¹ (y - m(X))`` with ``z = ∫ k(·, X) dπ``;
* ``Var[F] = ∫∫ k dπ dπ - zᵀ K⁻¹ z``.

``mean="constant"`` gives the constant prior mean a flat prior and
integrates it out (generalised least squares / universal kriging), which
adds ``(π(1) - 1ᵀK⁻¹z)² / 1ᵀK⁻¹1`` to the variance. Solves go through
``bayeskern.linalg.cholesky`` (its jitter policy applies, escalation is
reported); a variance that rounding makes negative is clipped to zero and
the clipping is recorded on the result (and warned about when concrete).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy.special import ndtr

from bayeskern._checks import as_observations, is_concrete
from bayeskern._display import html_table
from bayeskern.kernels import Kernel
from bayeskern.linalg import cholesky
from bayeskern.quadrature.embeddings import Embedding, embed
from bayeskern.quadrature.measures import Measure
from bayeskern.results import Result


class VarianceClippedWarning(UserWarning):
    """Rounding made a posterior integral variance negative; it was clipped to zero."""


class IntegralPosterior(Result):
    """Posterior over the integral: one Gaussian, or an equally weighted mixture of Gaussians.

    A :class:`~bayeskern.results.Result`: ``summary()``, ``plot()``, ``save``/``load``.

    A mixture arises when kernel hyperparameters are marginalised by MCMC:
    each posterior draw of the hyperparameters gives a Gaussian ``N(means_s, variances_s)``.

    Attributes:
        means: component means ``(S,)``.
        variances: component variances ``(S,)``, clipped at zero.
        raw_variances: the variances before clipping ``(S,)``.
        clipped: number of components whose variance was clipped.
        weights: BQ weights ``K⁻¹z`` ``(n,)`` (single-component posteriors built from evaluations), else None.
        embedding_error: QMC standard error of the kernel means used (0 when exact), if known.
    """

    def __init__(self, means, variances, *, raw_variances=None, weights=None, embedding_error=None):
        self.means = jnp.atleast_1d(jnp.asarray(means))
        raw = jnp.atleast_1d(jnp.asarray(variances if raw_variances is None else raw_variances))
        self.raw_variances = raw
        self.variances = jnp.maximum(jnp.atleast_1d(jnp.asarray(variances)), 0.0)
        if self.means.shape != self.variances.shape or self.means.ndim != 1:
            raise ValueError(
                f"means and variances must both have shape (S,), got {self.means.shape} and {self.variances.shape}"
            )
        self.clipped = jnp.sum(raw < 0)
        self.weights = weights
        self.embedding_error = embedding_error

    # -- moments -------------------------------------------------------------
    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    @property
    def mean(self):
        """Posterior mean of the integral."""
        return jnp.mean(self.means)

    @property
    def variance(self):
        """Posterior variance (law of total variance over the components)."""
        return jnp.mean(self.variances) + jnp.mean((self.means - self.mean) ** 2)

    @property
    def sd(self):
        return jnp.sqrt(self.variance)

    # -- as a distribution -------------------------------------------------------
    @property
    def distribution(self) -> dist.Distribution:
        """A NumPyro distribution: ``Normal`` (one component) or ``MixtureSameFamily``."""
        scale = jnp.sqrt(jnp.maximum(self.variances, jnp.finfo(self.variances.dtype).tiny))
        if self.num_components == 1:
            return dist.Normal(self.means[0], scale[0])
        mix = dist.Categorical(probs=jnp.full(self.means.shape, 1.0 / self.num_components))
        return dist.MixtureSameFamily(mix, dist.Normal(self.means, scale))

    def sample(self, key, num: int = 1000):
        """``num`` draws ``(num,)`` of the integral; ``key`` a PRNG key or an int seed."""
        key = jax.random.PRNGKey(key) if isinstance(key, int) else key
        return self.distribution.sample(key, (num,))

    def cdf(self, t):
        """Posterior CDF at ``t`` (array)."""
        t = jnp.asarray(t)[..., None]
        sd = jnp.sqrt(self.variances)
        z = (t - self.means) / jnp.where(sd > 0, sd, 1.0)
        point = jnp.where(t >= self.means, 1.0, 0.0)
        return jnp.mean(jnp.where(sd > 0, jax.scipy.stats.norm.cdf(z), point), axis=-1)

    def interval(self, prob: float = 0.95):
        """Central credible interval ``(lo, hi)`` holding ``prob`` posterior mass (bisection on the CDF)."""
        if not 0 < prob < 1:
            raise ValueError(f"prob must be in (0, 1), got {prob}")
        means = np.asarray(self.means, dtype=float)
        sds = np.sqrt(np.asarray(self.variances, dtype=float))
        pos = sds > 0

        def cdf(t):  # the mixture CDF in NumPy: bisection makes ~100 calls, too many for eager JAX
            zt = (t - means[pos]) / sds[pos]
            return (np.sum(ndtr(zt)) + np.sum(t >= means[~pos])) / means.size

        lo0, hi0 = float((means - 10 * sds).min()), float((means + 10 * sds).max())
        out = []
        for target in ((1 - prob) / 2, (1 + prob) / 2):
            lo, hi = lo0, hi0
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                if mid in (lo, hi):
                    break
                lo, hi = (mid, hi) if cdf(mid) < target else (lo, mid)
            out.append(0.5 * (lo + hi))
        return tuple(out)

    # -- result protocol -------------------------------------------------------------
    def summary(self, prob: float = 0.95):
        """One row ``integral``: ``mean``, ``sd``, the central ``prob`` interval (``lower``, ``upper``),
        ``components`` and ``clipped`` (variances clipped at zero)."""
        import pandas as pd

        lo, hi = self.interval(prob)
        return pd.DataFrame({"mean": [float(self.mean)], "sd": [float(self.sd)], "lower": [lo], "upper": [hi],
                             "components": [self.num_components], "clipped": [int(self.clipped)]},
                            index=["integral"])

    def plot(self, ax=None, prob: float = 0.95, label: str = "integral", **kwargs):
        """Posterior density of the integral with its central ``prob`` interval shaded; returns the ``Axes``.

        ``kwargs`` go to ``Axes.plot`` for the density line.
        """
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(5, 3))[1] if ax is None else ax
        lo, hi = self.interval(prob)
        width = max(hi - lo, 1e-12 * max(1.0, abs(float(self.mean))))
        t = np.linspace(lo - 0.6 * width, hi + 0.6 * width, 400)
        means = np.asarray(self.means, dtype=float)[:, None]
        sds = np.sqrt(np.maximum(np.asarray(self.variances, dtype=float), np.finfo(float).tiny))[:, None]
        density = np.mean(np.exp(-0.5 * ((t - means) / sds) ** 2) / (sds * np.sqrt(2 * np.pi)), axis=0)
        ax.plot(t, density, **{"color": "C0", **kwargs})
        inside = (t >= lo) & (t <= hi)
        ax.fill_between(t[inside], density[inside], alpha=0.3, color="C0", label=f"{prob:.0%} interval")
        ax.axvline(float(self.mean), color="k", lw=1, label="mean")
        ax.set_xlabel(label)
        ax.set_ylabel("posterior density")
        ax.legend(frameon=False)
        return ax

    def _summary(self) -> list[tuple[str, str]]:
        rows = [("mean", f"{float(self.mean):.6g}"), ("sd", f"{float(self.sd):.3g}")]
        if self.num_components > 1:
            rows.append(("components", f"mixture of {self.num_components}"))
        if is_concrete(self.clipped) and int(self.clipped):
            rows.append(("clipped variances", str(int(self.clipped))))
        return rows

    def __repr__(self):
        return "IntegralPosterior(" + ", ".join(f"{k}={v}" for k, v in self._summary()) + ")"

    def _repr_html_(self) -> str:
        return html_table("IntegralPosterior", dict(self._summary()))


def _check_duplicates(X, y, noise):
    """Drop exact duplicate points with equal values (warn); raise if values differ without noise."""
    if not (is_concrete(X) and is_concrete(y)):
        return X, y, noise
    Xn = np.asarray(X)
    _, first, inverse = np.unique(Xn, axis=0, return_index=True, return_inverse=True)
    if first.size == Xn.shape[0]:
        return X, y, noise
    yn = np.asarray(y)
    inverse = inverse.reshape(-1)
    noiseless = noise is None or (is_concrete(noise) and np.all(np.asarray(noise) == 0))
    spread = np.array([np.ptp(yn[inverse == g]) for g in range(first.size)])
    differ = spread > 1e-12 * max(1.0, np.abs(yn).max())
    if noiseless and np.any(differ):
        g = int(np.argmax(differ))
        raise ValueError(
            f"X has duplicate points with different function values ({int(differ.sum())} point(s), e.g. x = "
            f"{Xn[first[g]].tolist()} with values {yn[inverse == g].tolist()}) and noise is "
            f"{'None' if noise is None else 0}: a noise-free BQ model cannot fit them and will not average "
            "them silently. Pass noise= (the evaluation noise variance) or remove the duplicates"
        )
    if not noiseless:
        return X, y, noise  # repeated noisy evaluations are legitimate
    keep = np.sort(first)
    warnings.warn(
        f"X has {Xn.shape[0] - keep.size} duplicate point(s) with equal values; they were dropped "
        "(a noise-free GP's covariance is singular at repeated points)",
        UserWarning,
        stacklevel=3,
    )
    return X[keep], y[keep], noise


def bq_posterior(
    kernel: Kernel,
    measure: Measure,
    X,
    y,
    *,
    noise=None,
    mean=None,
    embedding: Embedding | None = None,
    warn: bool = True,
    **embed_kwargs,
) -> IntegralPosterior:
    """The posterior over ``∫ f dπ`` given ``y = f(X)``, by Gaussian conditioning.

    Args:
        kernel: GP prior covariance of ``f``.
        measure: the integration measure.
        X: evaluation points ``(n, d)`` (or ``(n,)`` for d = 1), inside the measure's support.
        y: evaluations ``(n,)``.
        noise: evaluation-noise variance (scalar or ``(n,)``), or None for exact evaluations.
        mean: prior mean of ``f``: None (zero), a number (a known constant), or
            ``"constant"`` (unknown constant with a flat prior, integrated out).
        embedding: precomputed :func:`~bayeskern.quadrature.embed` result at ``X`` (else computed).
        warn: warn when a negative variance is clipped.
        **embed_kwargs: passed to :func:`~bayeskern.quadrature.embed` (QMC fallback settings).

    Returns:
        A one-component :class:`IntegralPosterior` (with BQ ``weights``).

    Raises:
        ValueError: points outside the support, shape mismatches, NaN values,
            duplicate points with different values and no noise.
    """
    X = measure.check_points(X, "X")
    y = as_observations(y, "y")
    if y.shape != X.shape[:1]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if not (mean is None or mean == "constant" or np.ndim(mean) == 0):
        raise ValueError(f"mean must be None, a number or 'constant', got {mean!r}")
    if embedding is None:
        X, y, noise = _check_duplicates(X, y, noise)
        embedding = embed(kernel, measure, X, **embed_kwargs)
    elif embedding.z.shape != X.shape[:1]:
        raise ValueError(f"embedding.z must have shape ({X.shape[0]},), got {embedding.z.shape}")
    m, v, w = posterior_moments(kernel, measure, X, y, embedding.z, embedding.initial, noise=noise, mean=mean)
    post = IntegralPosterior(m, v, weights=w, embedding_error=embedding.z_error)
    if warn and is_concrete(v) and float(v) < 0:
        warnings.warn(
            f"the posterior variance of the integral came out negative ({float(v):.3e}, prior variance "
            f"{float(embedding.initial):.3e}) from rounding and was clipped to 0: the design is "
            "numerically saturated (too many points for this lengthscale); the sd is unreliable below "
            f"~{np.sqrt(abs(float(v))):.1e}",
            VarianceClippedWarning,
            stacklevel=2,
        )
    return post


def posterior_moments(kernel, measure, X, y, z, initial, *, noise=None, mean=None):
    """Traceable core of :func:`bq_posterior`: ``(mean, raw variance, weights K⁻¹z)``, no checks."""
    K = kernel(X)
    if noise is not None:
        K = K + jnp.diag(jnp.broadcast_to(jnp.asarray(noise, K.dtype), K.shape[:1]))
    L = cholesky(K, name="the BQ Gram matrix k(X, X)")
    solve = lambda b: jax.scipy.linalg.solve_triangular(L, b, lower=True)  # noqa: E731
    A = solve(z)
    weights = jax.scipy.linalg.solve_triangular(L.T, A, lower=False)
    mass = measure.mass
    if isinstance(mean, str):
        h = solve(jnp.ones_like(y))
        b = solve(y)
        hh = h @ h
        beta = (h @ b) / hh
        m = beta * mass + A @ (b - beta * h)
        v = initial - A @ A + (mass - h @ A) ** 2 / hh
    else:
        c0 = 0.0 if mean is None else mean
        m = c0 * mass + A @ solve(y - c0)
        v = initial - A @ A
    return m, v, weights
