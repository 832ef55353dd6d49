"""Where generated code runs: the CPU (Numba) and CUDA (numba-cuda)."""
