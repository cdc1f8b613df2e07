"""Mauna Loa CO2 with the classic composite kernel (Rasmussen & Williams §5.4.3).

The model itself lives in ``bayeskern.demo`` (the CLI demo uses it); this
script runs the longer fit: NUTS on every second month.
Run: ``python -m models.co2``.
"""

from bayeskern.demo import co2_kernel, co2_model, run_demo  # noqa: F401  (re-exported for users)


def main(out="co2-output"):
    return run_demo(out, subsample=2, num_warmup=500, num_samples=500)


if __name__ == "__main__":
    main()
