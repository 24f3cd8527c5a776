"""In-memory adapters of the persistence ports: one pond's state in dicts, for tests and a storeless Keeper."""
