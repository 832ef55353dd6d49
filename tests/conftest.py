import pytest


@pytest.fixture(params=[True, False], ids=["compiled", "python"])
def compile_mode(request):
    """Run every gradient test with Numba compilation and as plain generated Python."""
    return request.param
