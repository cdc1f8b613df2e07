"""Japanese pines (65 saplings, unit square) as a 2-D log-Gaussian Cox process on a Kronecker grid.

Run: ``python -m models.cox_pines [nuts|svi|laplace]``. Prints the posterior
intensity range, the expected count and the implied pair correlation.
"""

from __future__ import annotations

import sys

import numpy as np

import bayeskern  # noqa: F401


def main(method: str = "nuts", shape=(16, 16), num_warmup: int = 300, num_samples: int = 300, num_chains: int = 2):
    from bayeskern.cox import fit
    from bayeskern.datasets.pines import load_japanese_pines

    data = load_japanese_pines()
    field = None if method == "laplace" else "kronecker"
    res = fit(data.X, data.window, shape=shape, method=method, field=field, num_warmup=num_warmup,
              num_samples=num_samples, num_chains=num_chains)
    s = res.intensity_summary(threshold=100.0)
    print(f"posterior mean intensity per unit area: min {s['mean'].min():.1f}, max {s['mean'].max():.1f}")
    print(f"cells with P(intensity > 100) > 0.5: {int(np.sum(s['exceedance'] > 0.5))} of {res.grid.size}")
    print(f"expected count {np.mean(res.expected_count()):.1f} (observed {len(data.X)})")
    g = res.pair_correlation([0.0, 0.1, 0.3])
    print("pair correlation at r = 0, 0.1, 0.3:", np.median(g, axis=0).round(3))
    return res


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["nuts"]))
