"""The one ``structure="auto"`` rule (bayeskern.gp.structure) and the pieces that call it."""

import numpy as np
import pytest

from bayeskern import cox
from bayeskern.gp import GaussianProcess, choose_structure
from bayeskern.gp.structure import (
    GP_KALMAN_MIN_POINTS,
    GP_KRONECKER_MIN_POINTS,
    LAPLACE_KRONECKER_MIN_POINTS,
)
from bayeskern.kernels import RBF, Matern52


def test_rule_per_context():
    assert choose_structure("gp", GP_KALMAN_MIN_POINTS, 1) == "kalman"
    assert choose_structure("gp", GP_KALMAN_MIN_POINTS - 1, 1) == "dense"
    assert choose_structure("gp", GP_KALMAN_MIN_POINTS, 1, kalman=lambda: "no state space") == "dense"
    assert choose_structure("gp", GP_KRONECKER_MIN_POINTS, 2) == "kronecker"
    assert choose_structure("gp", GP_KRONECKER_MIN_POINTS - 1, 2) == "dense"
    assert choose_structure("gp", 10_000, 3, kronecker=lambda: "not a grid") == "dense"
    # the Laplace marginal has no Kalman structure and a higher Kronecker threshold
    assert choose_structure("laplace", 10_000, 1) == "dense"
    assert choose_structure("laplace", LAPLACE_KRONECKER_MIN_POINTS - 1, 2) == "dense"
    assert choose_structure("laplace", LAPLACE_KRONECKER_MIN_POINTS, 2) == "kronecker"
    # a Cox field: Kronecker on any grid of two or more axes
    assert choose_structure("cox", 16, 2) == "kronecker" and choose_structure("cox", 500, 1) == "dense"
    with pytest.raises(ValueError, match="context"):
        choose_structure("bo", 10, 1)


def test_checks_run_only_when_the_size_rule_allows():
    called = []
    choose_structure("gp", 10, 1, kalman=lambda: called.append(1))
    choose_structure("laplace", 100, 2, kronecker=lambda: called.append(1))
    assert called == []


def test_gaussian_process_and_cox_fields_resolve_auto_by_the_rule():
    t = np.linspace(0.0, 10.0, GP_KALMAN_MIN_POINTS)
    assert GaussianProcess(Matern52(), t, noise=0.1).structure == "kalman"
    assert GaussianProcess(RBF(), t, noise=0.1).structure == "dense"
    grid1, _ = cox.bin_events([0.5, 1.5], (0.0, 2.0), 8)
    grid2, _ = cox.bin_events([[0.5, 0.5]], ((0, 1), (0, 1)), (4, 4))
    assert cox.field_structure("auto", grid1) == "dense"
    assert cox.field_structure("auto", grid2) == "kronecker"
    with pytest.raises(ValueError, match="structure must be"):
        cox.field_structure("sparse", grid2)
