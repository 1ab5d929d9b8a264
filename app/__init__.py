"""visual-search desktop application (PySide6): thin Qt adapters over the engine. All Qt imports
live under this package; ``engine`` never imports it (import-linter contracts, pyproject.toml)."""
