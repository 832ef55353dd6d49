"""Reading user code: source and globals, the subset check, and normalisation."""
