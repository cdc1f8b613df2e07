"""Process-wide numerical settings (float64 by default)."""

import os
import warnings

import jax


def ensure_float64() -> None:
    """Enable JAX float64 unless ``BAYESKERN_X64=0``; warn loudly when it stays off."""
    wanted = os.environ.get("BAYESKERN_X64", "1").strip().lower() not in ("0", "false", "no")
    if wanted:
        jax.config.update("jax_enable_x64", True)
    elif not jax.config.jax_enable_x64:
        warnings.warn(
            "bayeskern is running with JAX float64 disabled (BAYESKERN_X64=0). Gaussian-process "
            "Cholesky factors lose about half their digits in float32; expect more jitter.",
            stacklevel=3,
        )
