"""Analyses of a normalised function: types, activity, and what the backward sweep reads."""
