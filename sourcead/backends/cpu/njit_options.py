"""The options of ``numba.njit`` that every function of generated code is compiled with."""

#: Options of ``numba.njit`` for generated code. Division by zero gives inf or nan, as in
#: NumPy's arrays and in JAX, instead of Numba's default ``ZeroDivisionError`` (which also
#: keeps LLVM from vectorising loops that divide): the derivative of ``sqrt`` at 0 is inf.
NJIT_OPTIONS = {"error_model": "numpy"}

#: The same options as the decorator of a shipped module writes them (``sourcead build``).
NJIT_OPTIONS_TEXT = ", ".join(f"{k}={v!r}" for k, v in NJIT_OPTIONS.items())
