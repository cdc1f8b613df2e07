"""GP classification: latent whitened GP with a Bernoulli-logit likelihood, ARD RBF kernel.

Data: the Wisconsin breast-cancer table bundled with scikit-learn (install the
``examples`` extra: ``pip install -e '.[examples]'``, or scikit-learn alone).
A random subsample of 150 patients (``--quick``: 80) on 5 standardised
features trains the model; the accuracy is measured on the other patients.

Run: ``python -m models.gp_classification [--quick] [--out DIR] [--seed S]``
(defaults: 4 chains x (500 warm-up + 500 draws); ``--quick``: 80 training
patients, 2 chains x (60 + 60)). Prints the verdict and the
held-out accuracy; writes ``DIR/result.json`` (default ``DIR``:
``./gp_classification-output``).
"""

from __future__ import annotations

import time

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

import bayeskern  # noqa: F401
from bayeskern.gp import latent
from bayeskern.priors import sample_rbf

try:
    from models import _cli
except ImportError:  # run as a file from inside models/
    import _cli  # type: ignore[no-redef]


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


def main(*, quick: bool = False, n_train: int | None = None, features: int = 5, num_warmup: int | None = None,
         num_samples: int | None = None, num_chains: int | None = None, seed: int = 0,
         out: str | None = "gp_classification-output") -> dict:
    """Fit on ``n_train`` patients; returns verdict numbers, held-out accuracy and majority-class rate (and ``fit``)."""
    from bayeskern.datasets import load_classification
    from bayeskern.diagnostics import check
    from bayeskern.infer import nuts

    n_train = n_train or (80 if quick else 150)
    num_warmup = num_warmup or (60 if quick else 500)
    num_samples = num_samples or (60 if quick else 500)
    num_chains = num_chains or (2 if quick else 4)
    data = load_classification("breast_cancer")
    Xs = (data.X - data.X.mean(0)) / data.X.std(0)
    Xs = Xs[:, :features]
    idx = np.random.default_rng(0).permutation(len(Xs))
    train, test = idx[:n_train], idx[n_train:]
    t0 = time.perf_counter()
    fit = nuts(model, Xs[train], data.y[train], num_warmup=num_warmup, num_samples=num_samples,
               num_chains=num_chains, seed=seed, progress_bar=False)
    seconds = time.perf_counter() - t0
    pred = fit.predict(model, Xs[train], data.y[train], X_new=Xs[test], num_draws=100, seed=seed,
                       return_sites=["p_new"])
    p = np.asarray(pred["p_new"]).mean(0)
    acc = float(np.mean((p > 0.5) == data.y[test]))
    majority = float(max(np.mean(data.y[test]), 1 - np.mean(data.y[test])))
    verdict = check(fit)
    print(verdict)
    print(f"test accuracy on {len(test)} held-out patients: {acc:.3f} (majority class {majority:.3f}); "
          f"NUTS {seconds:.1f} s")
    result = {"verdict": _cli.verdict_numbers(verdict), "nuts_seconds": seconds, "num_chains": num_chains,
              "num_samples": num_samples, "accuracy": acc, "majority_rate": majority, "n_test": len(test)}
    if out is not None:
        _cli.write_result(out, result)
    return {**result, "fit": fit}


if __name__ == "__main__":
    _cli.run(main, _cli.parser(__doc__, "gp_classification"))
