"""``structure="svgp"``: the name is reserved so that asking for it explains where SVGP lives.

A sparse variational GP is not a linear-algebra back end for a fixed
Gaussian density: it adds variational parameters (inducing inputs and
``q(v)``) and a guide, and its likelihood can be anything. It is therefore a
model piece of its own, :class:`bayeskern.gp.svgp.SVGP` (NumPyro model +
guide for SVI, minibatches via a subsampling plate) with a dedicated trainer
:func:`bayeskern.gp.svgp.fit_svgp`. For Gaussian noise with a collapsed
bound use ``structure="sgpr"``.
"""

from __future__ import annotations

#: SVGP is not a GaussianProcess back end (see the module docstring): it takes no settings here.
OPTIONS: tuple[str, ...] = ()


def applicable(process) -> str:
    """Always a reason: ``GaussianProcess`` cannot carry SVGP's variational state."""
    return ("SVGP has variational parameters and a guide, so it is a model piece of its own: use "
            "bayeskern.gp.svgp.SVGP (NumPyro model + guide, minibatched SVI) or "
            "bayeskern.gp.svgp.fit_svgp; for Gaussian noise the collapsed bound is structure='sgpr'")
