"""User modules (converted notebooks) the runtime tests serve."""
