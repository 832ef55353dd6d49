"""The driver: from a user function and argument types to one generated module, per mode."""
