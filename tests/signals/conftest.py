"""Fixtures for the adapter tests; the signals come from :mod:`.synthetic`."""

import matplotlib
import pytest

from .synthetic import make_signal

matplotlib.use("Agg")


@pytest.fixture(params=[False, True], ids=["numpy", "lazy"])
def lazy(request):
    return request.param


@pytest.fixture
def signal(lazy):
    return make_signal(lazy=lazy)
