"""Coal-mining disasters 1851-1962 as a 1-D log-Gaussian Cox process (Matern52 field, binned yearly).

Run: ``python -m models.cox_coal [nuts|svi|laplace]``. Prints the posterior
intensity per decade; the well-known drop around 1890 (about 3 disasters a
year before, under 1 after) should be visible.
"""

from __future__ import annotations

import sys

import numpy as np

import bayeskern  # noqa: F401
from bayeskern.cox import cox_grid_model  # noqa: F401  (the model piece used by fit)


def main(method: str = "nuts", shape: int = 56, num_warmup: int = 400, num_samples: int = 400, num_chains: int = 2):
    from bayeskern.cox import fit
    from bayeskern.datasets import load_coal_mining

    data = load_coal_mining()
    res = fit(data.X, data.window, shape=shape, method=method, num_warmup=num_warmup, num_samples=num_samples,
              num_chains=num_chains)
    years = np.arange(1855, 1962, 10.0)
    s = np.quantile(res.intensity(years), [0.05, 0.5, 0.95], axis=0)
    for y, lo, med, hi in zip(years, *s):
        print(f"{y:.0f}: {med:5.2f} per year  (90% {lo:4.2f}-{hi:4.2f})")
    total = res.expected_count()
    print(f"expected total {np.mean(total):.1f} (observed {len(data.X)})")
    return res


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["nuts"]))
