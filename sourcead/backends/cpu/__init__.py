"""The CPU backend: loading generated modules under Numba and reporting long compiles."""
