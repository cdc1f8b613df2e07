"""GP classification: latent whitened GP with a Bernoulli-logit likelihood, ARD RBF kernel.

Run: ``python -m models.gp_classification`` (Wisconsin breast-cancer data
shipped with scikit-learn: a subsample of 150 training patients on 5
standardised features, accuracy on the rest).
"""

from __future__ import annotations

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp import latent
from bayeskern.priors import sample_rbf


def model(X, y=None, X_new=None):
    """``X`` ``(n, d)`` standardised, ``y`` ``(n,)`` in {0, 1}; latent ``f`` ``(n,)``.

    With ``X_new`` ``(m, d)``: ``p_new`` ``(m,)``, the class-1 probability at
    the latent posterior mean given each draw of ``f`` (noise-free GP
    conditional; probit-free plug-in of the conditional mean).
    """
    kernel = sample_rbf("f", X, ard=True, variance=dist.LogNormal(0.0, 1.0))
    bias = numpyro.sample("bias", dist.Normal(0.0, 2.0))
    f = latent("f", kernel, X)
    numpyro.sample("y", dist.Bernoulli(logits=f + bias), obs=y)
    if X_new is not None:
        # f | f(X) by the noise-free GP conditional, from the same kernel draw.
        from bayeskern.gp import GaussianProcess

        cond = GaussianProcess(kernel, X, noise=1e-6).condition(f, X_new)
        numpyro.deterministic("p_new", jax.nn.sigmoid(cond.mean + bias))


def main(n_train=150, num_warmup=300, num_samples=300, num_chains=2, features=5):
    from bayeskern.datasets import load_classification
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    data = load_classification("breast_cancer")
    Xs = (data.X - data.X.mean(0)) / data.X.std(0)
    Xs = Xs[:, :features]
    idx = np.random.default_rng(0).permutation(len(Xs))
    train, test = idx[:n_train], idx[n_train:]
    fit = nuts(model, Xs[train], data.y[train], num_warmup=num_warmup, num_samples=num_samples,
               num_chains=num_chains)
    pred = fit.predict(model, Xs[train], data.y[train], X_new=Xs[test], num_draws=100, return_sites=["p_new"])
    p = np.asarray(pred["p_new"]).mean(0)
    acc = np.mean((p > 0.5) == data.y[test])
    print(check(fit))
    print(f"test accuracy on {len(test)} held-out patients: {acc:.3f}")
    return fit, acc


if __name__ == "__main__":
    main()
