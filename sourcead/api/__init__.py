"""The public functions: gradients, forward mode, vmap, solvers, host code of kernels."""
