"""The one check of integer and boolean arguments the package uses.

An integer argument may be any integral object (a Python int, a NumPy
integer, anything with `__index__`), never a bool (True is no count) and
never a float, even a whole one (2.9 would otherwise become 2). Each error
names the argument and the value it got.
"""
from __future__ import annotations

import operator

import numpy as np

__all__ = ["as_int", "as_int_pair", "is_int", "as_bool"]


def is_int(value):
    """Whether `value` is an integer argument: integral, not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def as_int(value, name, low=None, high=None):
    """`value` as a Python int in [low, high] (either bound may be None).

    TypeError for a bool or a non-integral value, ValueError outside the
    range; both messages name `name` and the value.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, not the bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__} {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{name} must be {_range(low, high)}, not {number}")
    return number


def _range(low, high):
    if high is None:
        return f"at least {low}"
    if low is None:
        return f"at most {high}"
    return f"from {low} to {high}"


def as_int_pair(value, name, low=None, high=None, described="an int or a pair of ints"):
    """An int or a pair of ints (a list, tuple or 1-D array of two), each in
    [low, high], as a pair of Python ints; errors name `name`."""
    sequence = isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray)
                                                     and value.ndim > 0)
    values = tuple(value) if sequence else (value, value)
    if len(values) != 2:
        raise TypeError(f"{name} must be {described}, not {value!r}")
    return tuple(as_int(v, name, low, high) for v in values)


def as_bool(value, name):
    """`value` as a Python bool: only True and False (or NumPy's) are bools;
    the string "no" or the int 2 is a TypeError naming `name`."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__} {value!r}")
    return bool(value)
