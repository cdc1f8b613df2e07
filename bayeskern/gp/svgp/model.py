"""``SVGP``: the sparse variational GP as a NumPyro model piece and guide (for ``SVI`` / ``bayeskern.infer.svi``)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from numpyro.distributions import constraints

from bayeskern._checks import as_inputs, as_observations
from bayeskern.features.nystrom import as_landmarks, landmark_cholesky
from bayeskern.gp.svgp.elbo import _mean_values, q_marginals
from bayeskern.gp.svgp.quadrature import NUM_QUADRATURE, expected_log_likelihood
from bayeskern.kernels import Kernel


class SVGP:
    """A sparse variational GP as a NumPyro model piece (``__call__``) and its guide (``guide``).

    Example::

        svgp = SVGP("f", inducing=select_inducing(X, 50), likelihood=lambda f: dist.Bernoulli(logits=f))

        def model(X, y=None):
            k = RBF(lengthscale=numpyro.param("ls", 1.0, constraint=constraints.positive))
            svgp(k, X, y, batch_size=128)

        def guide(X, y=None):
            svgp.guide()

        result = SVI(model, guide, optax.adam(1e-2), Trace_ELBO()).run(key, 3000, X, y)
        mean, var = svgp.marginals(k_fitted, X_new, result.params)

    Sites (``name`` is yours): param ``{name}_inducing`` (when
    ``learn_inducing``), sample ``{name}_v`` ``(M,)`` with prior ``N(0, I)``, plate
    ``{name}_data`` (size ``n``, ``subsample_size=batch_size``), and either the
    factor ``{name}_expected_log_lik`` (``y`` given: ``E_{p(f_i|v)}[log p(y_i|f_i)]``
    by quadrature, scaled by ``n / b`` by the plate) or, with ``y=None``, the
    latent ``{name}`` (``f`` at the batch inputs) and the observation site
    ``obs_name`` (default ``{name}_y``) drawn from the likelihood — what
    ``Predictive`` uses. The guide declares params ``{name}_q_loc``,
    ``{name}_q_scale_tril`` and samples ``{name}_v ~ N(q_loc, S)``; any other
    guide for ``{name}_v`` (e.g. an autoguide) works as well.
    """

    def __init__(self, name: str, inducing, likelihood: Callable, *, learn_inducing: bool = True,
                 jitter=None, num_quadrature: int = NUM_QUADRATURE):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.inducing = as_landmarks(inducing, None, "inducing")
        self.likelihood = likelihood
        self.learn_inducing = learn_inducing
        self.jitter = jitter
        self.num_quadrature = num_quadrature

    @property
    def num_inducing(self) -> int:
        return self.inducing.shape[0]

    def _Z(self):
        if self.learn_inducing:
            return numpyro.param(f"{self.name}_inducing", self.inducing)
        return self.inducing

    def __call__(self, kernel: Kernel, X, y=None, *, batch_size: int | None = None, mean=None,
                 obs_name: str | None = None):
        """Model piece; returns ``f`` at the batch inputs when ``y`` is None, else the plate's indices.

        ``mean``: ``None``, a scalar, or a callable ``mean(X_batch (b, d)) -> (b,)``.
        """
        Xa = as_inputs(X, "X")
        n, d = Xa.shape
        if self.inducing.shape[1] != d:
            raise ValueError(f"inducing must have shape (M, {d}) to match X, got {self.inducing.shape}")
        if y is not None:
            y = as_observations(y, "y")
            if y.shape != (n,):
                raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
        Z = self._Z()
        M = Z.shape[0]
        L = landmark_cholesky(kernel, Z, jitter=self.jitter, name="inducing-point kernel matrix K_mm")
        v = numpyro.sample(f"{self.name}_v", dist.Normal(jnp.zeros((M,), Xa.dtype), 1.0).to_event(1))
        with numpyro.plate(f"{self.name}_data", n, subsample_size=batch_size) as idx:
            Xb = Xa[idx]
            A = solve_triangular(L, kernel(Z, Xb), lower=True)
            mu = A.T @ v + _mean_values(mean, Xb)
            var = jnp.maximum(kernel.diag(Xb) - jnp.sum(A * A, axis=0), 0.0)
            if y is not None:
                ell = expected_log_likelihood(self.likelihood, y[idx], mu, var, self.num_quadrature)
                numpyro.factor(f"{self.name}_expected_log_lik", ell)
                return idx
            f = numpyro.sample(self.name, dist.Normal(mu, jnp.sqrt(var + jnp.finfo(var.dtype).tiny)))
            numpyro.sample(obs_name or f"{self.name}_y", self.likelihood(f))
            return f

    def guide(self, *args, **kwargs):
        """``q(v) = N(q_loc, q_scale_tril q_scale_trilᵀ)`` (arguments are ignored)."""
        M = self.num_inducing
        dt = self.inducing.dtype
        loc = numpyro.param(f"{self.name}_q_loc", jnp.zeros((M,), dt))
        tril = numpyro.param(f"{self.name}_q_scale_tril", jnp.eye(M, dtype=dt), constraint=constraints.lower_cholesky)
        return numpyro.sample(f"{self.name}_v", dist.MultivariateNormal(loc, scale_tril=tril))

    def marginals(self, kernel: Kernel, X_new, params):
        """Mean and variance ``(m,)`` of ``q(f(X_new))`` (zero prior mean) from fitted SVI ``params``."""
        Z = params.get(f"{self.name}_inducing", self.inducing)
        return q_marginals(kernel, X_new, Z, params[f"{self.name}_q_loc"], params[f"{self.name}_q_scale_tril"],
                           whiten=True, jitter=self.jitter)
