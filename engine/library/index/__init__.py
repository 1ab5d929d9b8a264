"""Indexing a library: scanning folders, describing new photos on worker processes, and the
caches derived from the database (vector indexes, the inverted file) with their one policy."""
