"""Rewrites of typed code before differentiation: fusion, whole-array lowering, solver and jvp calls."""
