"""The examples in the qnewton.cost docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = [
    "qnewton.cost",
    "qnewton.cost.queries",
    "qnewton.cost.encoding",
    "qnewton.cost.readout",
    "qnewton.cost.gate_times",
    "qnewton.cost.quantum",
    "qnewton.cost.classical",
    "qnewton.cost.estimate",
    "qnewton.cost.curves",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_api_is_curated():
    import qnewton.cost as cost

    assert sorted(cost.__all__) == sorted(set(cost.__all__))
    for name in cost.__all__:
        assert getattr(cost, name) is not None
        obj = getattr(cost, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"


def test_cost_does_not_import_solvers():
    # the solvers import qnewton.cost: the reverse import would be a cycle
    import subprocess
    import sys

    code = "import sys, qnewton.cost; print('qnewton.solvers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
