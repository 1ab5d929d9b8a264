"""Training-only pieces: heads and losses (kept out of the modules that inference loads)."""
