"""Answering a library query: the query described once with its evidence (``session``),
ranking (``search``), what a search returns (``results``) and duplicate groups."""
