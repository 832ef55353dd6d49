"""User-defined derivative rules: @sourcead.adjoint and @sourcead.primitive."""

import math

import numpy as np
import pytest
from helpers import check_grad

import sourcead


@sourcead.primitive
def softplus(x):
    return math.log1p(math.exp(x))


@sourcead.adjoint(softplus)
def softplus_adjoint(b_out, x):
    return b_out / (1.0 + math.exp(-x))


def uses_softplus(x, y):
    return softplus(x * y) ** 2 + y


@sourcead.primitive
def weighted_norm(x, w):
    return math.sqrt(np.sum(w * x * x))


@sourcead.adjoint(weighted_norm)
def weighted_norm_adjoint(b_out, x, w):
    n = math.sqrt(np.sum(w * x * x))
    return b_out * w * x / n, b_out * x * x / (2.0 * n)


def uses_weighted_norm(x, w):
    return weighted_norm(np.sin(x), w) * 3.0


@sourcead.primitive
def no_rule(x):
    return x


def uses_no_rule(x):
    return no_rule(x)


def uses_unique(x):
    return np.sum(np.unique(x))


def test_scalar_rule_round_trip(compile_mode):
    check_grad(uses_softplus, (0.3, 1.7), (0, 1), compile=compile_mode)


def test_multi_statement_array_rule(compile_mode):
    x, w = np.array([0.3, 0.9, 1.4]), np.array([1.0, 2.0, 0.5])
    check_grad(uses_weighted_norm, (x, w), (0, 1), compile=compile_mode)


def test_primitive_source_is_in_the_generated_module():
    source = sourcead.grad(uses_softplus).source
    assert "def softplus(x):" in source
    assert "def softplus_adjoint" not in source  # the rule is inlined, not called


def test_primitive_without_rule_is_refused():
    with pytest.raises(sourcead.SourceADError, match=r"adjoint\(no_rule\)") as info:
        sourcead.grad(uses_no_rule)
    assert info.value.lineno is not None


def test_numpy_function_without_rule_names_function_and_line():
    with pytest.raises(sourcead.SourceADError, match=r"np\.unique.*@sourcead\.adjoint") as info:
        sourcead.grad(uses_unique)
    assert info.value.filename.endswith("test_custom_rules.py")
    assert info.value.lineno == uses_unique.__code__.co_firstlineno + 1


def test_malformed_rule_is_refused():
    with pytest.raises(sourcead.SourceADError, match="return"):

        @sourcead.adjoint(math.erf)
        def bad(b_out, x):
            y = b_out * 2.0  # noqa: F841


def test_rule_without_source_is_refused():
    namespace = {}
    exec("def lost_adjoint(b_out, x):\n    return b_out\n", namespace)  # no file to read
    for register in (sourcead.adjoint, sourcead.tangent):
        with pytest.raises(sourcead.SourceADError, match="the rule lost_adjoint cannot be read"):
            register(softplus)(namespace["lost_adjoint"])
