"""A file next to the notebook, imported by its plain name as Jupyter allows."""

GREETING = "Hello"
