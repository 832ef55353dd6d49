"""The CPU backend: loading generated modules under Numba, the optimisation level of generated
code, and reporting long compiles."""
