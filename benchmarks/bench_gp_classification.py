"""GP classification on breast cancer: bayeskern's Laplace marginal vs scikit-learn's GaussianProcessClassifier.

Issue 5's figure: test error and NLPD per fold on the same 5 folds
(:func:`bayeskern.datasets.train_test_folds`, seed 0) of the Wisconsin
breast-cancer data (569 x 30, features standardised with the training fold's
mean and sd), and the fit time.

- bayeskern: ``laplace_marginal`` with a Bernoulli-logit likelihood and an ARD
  RBF kernel, zero prior mean (scikit-learn's model); weak priors
  ``ℓ_j ~ LogNormal(log √d, 1)``, ``σ² ~ LogNormal(log 4, 1)``. Hyperparameters at
  the MAP: L-BFGS (SciPy) on the unconstrained negative log posterior with
  the Laplace marginal's implicit gradient, from the prior medians. Prediction:
  :func:`bayeskern.gp.laplace.predict.predict_latent` and ``P(y=1) = ∫σ(f)N(f)df``
  (adaptive Gauss-Hermite).
  With ``--nuts``: NUTS over the 31 hyperparameters, predictive averaged over draws.
- scikit-learn: ``GaussianProcessClassifier(ConstantKernel * RBF(ARD))``, ML-II with
  L-BFGS-B, ``n_restarts_optimizer`` as given (default 0), its own
  erf-mixture predictive.

NLPD = mean over test points of ``-log p(y* | data)`` (probabilities clipped at 1e-12).
Times are wall seconds per fold including JAX compilation for bayeskern's first fold
(reported separately); one XLA/BLAS thread by default.

Run: ``.venv/bin/python benchmarks/bench_gp_classification.py [--restarts 2] [--folds 5] [--nuts]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_util import configure_threads, environment_report, median

THREADS = configure_threads()

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import scipy.optimize as so
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

import bayeskern  # noqa: F401
from bayeskern.datasets import load_classification, train_test_folds
from bayeskern.gp import laplace_marginal
from bayeskern.gp.laplace.predict import predict_latent
from bayeskern.gp.predictive_density import bernoulli_probability
from bayeskern.infer import Fit
from bayeskern.kernels import RBF


def model(X, y):
    d = X.shape[1]
    ls = numpyro.sample("ls", dist.LogNormal(np.log(np.sqrt(d)), 1.0).expand([d]).to_event(1))
    var = numpyro.sample("var", dist.LogNormal(np.log(4.0), 1.0))
    laplace_marginal("f", RBF(lengthscale=ls, variance=var), X, lambda f: dist.Bernoulli(logits=f), y,
                     structure="dense")


def kernel_of(v):
    return RBF(lengthscale=v["ls"], variance=v["var"])


def fit_map(X, y):
    """``({ls, var}, iterations)`` at the MAP by L-BFGS in unconstrained space."""
    d = X.shape[1]
    init = {"ls": jnp.full((d,), np.sqrt(d)), "var": jnp.asarray(4.0)}
    z0 = unconstrain_fn(model, (X, y), {}, init)
    flat0, unravel = ravel_pytree(z0)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    @jax.jit
    def vg(flat, Xa, ya):
        return jax.value_and_grad(lambda z: potential_energy(model, (Xa, ya), {}, unravel(z)))(flat)

    def fun(flat):
        v, g = vg(jnp.asarray(flat), Xj, yj)
        return float(v), np.asarray(g, dtype=float)

    res = so.minimize(fun, np.asarray(flat0), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    params = constrain_fn(model, (X, y), {}, unravel(jnp.asarray(res.x)))
    return {k: np.asarray(v) for k, v in params.items() if k in ("ls", "var")}, res.nit


def metrics(p, y):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(np.mean((p > 0.5) != y)), float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def run_bayeskern(Xtr, ytr, Xte, yte, use_nuts, nuts_args):
    t0 = time.perf_counter()
    if use_nuts:
        from bayeskern.infer import nuts

        fit = nuts(model, Xtr, ytr, num_warmup=nuts_args[0], num_samples=nuts_args[1], num_chains=1,
                   progress_bar=False, init="map")
        extra = f"NUTS {nuts_args[0]}/{nuts_args[1]}"
    else:
        params, nit = fit_map(Xtr, ytr)
        fit = Fit({k: v[None, None] for k, v in params.items()}, method="laplace", model=model,
                  model_args=(Xtr, ytr))
        extra = f"L-BFGS {nit} it"
    t_fit = time.perf_counter() - t0
    pred = predict_latent(fit, "f", Xte, X=Xtr, kernel=kernel_of)
    # Average the predictive probability over hyperparameter draws (one draw at the MAP).
    p = np.asarray(bernoulli_probability(pred.mean, pred.var)).mean(axis=0)
    return (*metrics(p, yte), t_fit, time.perf_counter() - t0, extra)


def run_sklearn(Xtr, ytr, Xte, yte, restarts):
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.gaussian_process.kernels import RBF as SkRBF
    from sklearn.gaussian_process.kernels import ConstantKernel

    d = Xtr.shape[1]
    kern = ConstantKernel(4.0, (1e-3, 1e4)) * SkRBF(np.full(d, np.sqrt(d)), (1e-2, 1e4))
    t0 = time.perf_counter()
    gpc = GaussianProcessClassifier(kern, n_restarts_optimizer=restarts, random_state=0).fit(Xtr, ytr)
    t_fit = time.perf_counter() - t0
    p = gpc.predict_proba(Xte)[:, 1]
    return (*metrics(p, yte), t_fit, time.perf_counter() - t0, f"LML {gpc.log_marginal_likelihood_value_:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5, help="run the first N of the 5 folds")
    ap.add_argument("--restarts", type=int, default=0, help="scikit-learn n_restarts_optimizer")
    ap.add_argument("--nuts", action="store_true", help="NUTS over hyperparameters instead of the MAP (slow)")
    ap.add_argument("--nuts-warmup", type=int, default=200)
    ap.add_argument("--nuts-samples", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="XLA/BLAS threads (read before JAX import)")
    args = ap.parse_args()
    import sklearn

    print(environment_report(THREADS, ("numpyro", "sklearn")))
    data = load_classification("breast_cancer")
    folds = train_test_folds(len(data.y), k=5, seed=0)[: args.folds]
    label = "bayeskern Laplace + NUTS" if args.nuts else "bayeskern Laplace MAP"
    print(f"data: breast_cancer {data.X.shape}, 5 folds (seed 0), running {len(folds)}; "
          f"sklearn {sklearn.__version__} n_restarts_optimizer={args.restarts}\n")
    rows = {label: [], "sklearn GPC": []}
    print("| fold | method | test error | NLPD | fit time | fit + predict | note |")
    print("|---|---|---|---|---|---|---|")
    for i, (tr, te) in enumerate(folds):
        mu, sd = data.X[tr].mean(0), data.X[tr].std(0)
        Xtr, Xte = (data.X[tr] - mu) / sd, (data.X[te] - mu) / sd
        ytr, yte = data.y[tr].astype(float), data.y[te].astype(float)
        for name in rows:
            if name == "sklearn GPC":
                r = run_sklearn(Xtr, ytr, Xte, yte, args.restarts)
            else:
                r = run_bayeskern(Xtr, ytr, Xte, yte, args.nuts, (args.nuts_warmup, args.nuts_samples))
            rows[name].append(r)
            print(f"| {i} | {name} | {r[0]:.4f} | {r[1]:.4f} | {r[2]:.2f} s | {r[3]:.2f} s | {r[4]} |", flush=True)
    print("\n| method | median test error | median NLPD | median fit time | median fit time, folds 2+ |")
    print("|---|---|---|---|---|")
    for name, rs in rows.items():
        later = [r[2] for r in rs[1:]]
        print(f"| {name} | {median([r[0] for r in rs]):.4f} | {median([r[1] for r in rs]):.4f} "
              f"| {median([r[2] for r in rs]):.2f} s | {median(later):.2f} s |")
    b, s = rows[label], rows["sklearn GPC"]
    print(f"\nper-fold NLPD difference (bayeskern - sklearn): {[round(x[1] - y[1], 4) for x, y in zip(b, s, strict=True)]}")


if __name__ == "__main__":
    main()
