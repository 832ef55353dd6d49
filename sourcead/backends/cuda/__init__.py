"""The CUDA backend: device functions, kernels and their adjoints, local arrays."""
