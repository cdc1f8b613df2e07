"""bayeskern.infer: NUTS, SVI, Laplace and MAP runners that all return one `Fit`.

Runners take an ordinary NumPyro model and its arguments; nothing here knows
about Gaussian processes beyond the duck-typed ``pointwise_log_prob`` used
for pointwise log likelihoods.
"""

from bayeskern.infer.design import inla
from bayeskern.infer.fit import Fit
from bayeskern.infer.laplace import laplace
from bayeskern.infer.loglik import pointwise_log_likelihood
from bayeskern.infer.map import map_estimate
from bayeskern.infer.nuts import nuts
from bayeskern.infer.svi import svi

__all__ = ["Fit", "inla", "laplace", "map_estimate", "nuts", "pointwise_log_likelihood", "svi"]
