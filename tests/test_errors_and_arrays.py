import warnings

import numpy as np
import pytest
import torch

from qnewton import errors
from qnewton._arrays import as_numpy


@pytest.mark.parametrize(
    "cls,builtin",
    [
        (errors.InvalidArgumentError, ValueError),
        (errors.ShapeError, ValueError),
        (errors.NotSymmetricError, ValueError),
        (errors.DataFormatError, ValueError),
        (errors.CircuitTooLargeError, ValueError),
        (errors.NonFiniteError, ArithmeticError),
        (errors.SingularMatrixError, ArithmeticError),
        (errors.NotPositiveDefiniteError, ArithmeticError),
        (errors.ConvergenceError, ArithmeticError),
        (errors.MissingDependencyError, ImportError),
    ],
)
def test_error_taxonomy(cls, builtin):
    assert issubclass(cls, errors.QNewtonError) and issubclass(cls, builtin)


def test_warnings_are_filterable_as_a_family():
    for name in [
        "IllConditionedWarning",
        "IndefiniteMatrixWarning",
        "ConvergenceWarning",
        "ClampedRangeWarning",
    ]:
        assert issubclass(getattr(errors, name), errors.QNewtonWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", errors.QNewtonWarning)
        warnings.warn("x", errors.IllConditionedWarning, stacklevel=1)
    assert not caught


@pytest.mark.parametrize(
    "value,dtype,is_torch",
    [
        (np.zeros((2, 2), np.float32), np.float32, False),
        (np.zeros((2, 2), np.int64), np.float64, False),
        ([[1, 2], [3, 4]], np.float64, False),
        (torch.zeros(2, 2, dtype=torch.float64), np.float64, True),
        (torch.zeros(2, 2, dtype=torch.bfloat16), np.float32, True),
        (torch.zeros(2, 2, dtype=torch.int32), np.float64, True),
    ],
)
def test_as_numpy_policy(value, dtype, is_torch):
    a, kind = as_numpy(value)
    assert a.dtype == dtype and kind.is_torch == is_torch
    back = kind.wrap(a)
    assert isinstance(back, torch.Tensor) == is_torch


def test_as_numpy_rejects_complex_and_ragged():
    with pytest.raises(errors.InvalidArgumentError, match="complex"):
        as_numpy(np.zeros(2, np.complex128))
    with pytest.raises(errors.InvalidArgumentError):
        as_numpy([[1, 2], [3]])
