"""Syntax trees: building generated code as gast trees, fresh names, and shared tree queries."""
