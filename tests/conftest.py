"""Fixtures shared by every test folder.

* ``lazy``: the one numpy/lazy parametrisation; a test that takes it runs
  twice, on an in-memory and on a dask-backed (lazy) signal
  (:func:`tests.signals.synthetic.as_lazy` turns a signal into its lazy
  twin).
* ``signal``: the small calibrated 4D-STEM signal of
  :mod:`tests.signals.synthetic` (6 x 5 scan, 16 x 20 detector, beam off
  centre), in both forms.

Fixtures of one folder stay in that folder's ``conftest.py``
(``tests/core/conftest.py``: small factorization problems).
"""

import matplotlib
import pytest

from .signals.synthetic import make_signal

matplotlib.use("Agg")


@pytest.fixture(params=[False, True], ids=["numpy", "lazy"])
def lazy(request):
    """False, then True: run the test on numpy and on lazy (dask) data."""
    return request.param


@pytest.fixture
def signal(lazy):
    """The synthetic signal of :func:`tests.signals.synthetic.make_signal`."""
    return make_signal(lazy=lazy)
