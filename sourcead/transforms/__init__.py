"""The derivative transformations: reverse mode (adjoints), forward mode (tangents), and their loops."""
