"""Ahead of time: ``sourcead build`` (generated modules, native extensions) and the command line."""
