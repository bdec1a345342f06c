"""The examples in the docstrings of the pure geometry functions run and give what they show."""

from __future__ import annotations

import doctest

import pytest

from geoclassify.geo import tiling, units


@pytest.mark.parametrize("module", [tiling, units])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
