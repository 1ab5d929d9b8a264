"""visual-search desktop application (PySide6): thin Qt adapters over the engine.

All Qt imports live under this package; ``engine`` never imports it (see the import-linter
contracts in pyproject.toml).
"""
