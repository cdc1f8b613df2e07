"""Chains over several devices (issue 21, item 3): CPU with 4 forced host devices, in a fresh process.

XLA's device count is fixed when JAX starts, so the check runs in a subprocess
with ``--xla_force_host_platform_device_count=4``. With as many devices as
chains, ``nuts`` runs the chains in parallel (one per device) by default; the
draws equal the one-device (sequential) run's exactly while no adaptation runs,
and after warm-up (where floating-point differences between the compiled
programs grow through the tree-building decisions) both agree with the
conjugate posterior.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import json
    import jax, numpy as np, numpyro, numpyro.distributions as dist
    import bayeskern as bk

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("y", dist.Normal(mu, 2.0), obs=y)

    y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    plain = {cm: bk.infer.nuts(model, y, num_warmup=0, num_samples=10, num_chains=4, progress_bar=False,
                               chain_method=cm, init={"mu": 0.5}).samples_by_chain["mu"]
             for cm in ("parallel", "sequential")}
    default = bk.infer.nuts(model, y, num_warmup=300, num_samples=500, num_chains=4, progress_bar=False, seed=1)
    print(json.dumps({
        "devices": len(jax.devices()),
        "default_method": default.mcmc.chain_method,
        "max_diff_no_warmup": float(np.max(np.abs(plain["parallel"] - plain["sequential"]))),
        "mu_mean": float(np.mean(default.samples["mu"])),
        "mu_sd": float(np.std(default.samples["mu"])),
        "ybar": float(np.mean(y)),
    }))
""")


def test_chains_run_one_per_device_with_the_same_draws():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4 and out["default_method"] == "parallel"
    assert out["max_diff_no_warmup"] == 0.0
    # conjugate posterior of mu: N(ybar * n/σ² / (n/σ² + 1/100), 1 / (n/σ² + 1/100)), n = 50, σ = 2
    prec = 50 / 4.0 + 1 / 100.0
    mean, sd = out["ybar"] * (50 / 4.0) / prec, 1 / np.sqrt(prec)
    assert abs(out["mu_mean"] - mean) < 5 * sd / np.sqrt(500)  # ESS of 2000 draws is well above 500
    assert abs(out["mu_sd"] / sd - 1) < 0.1
