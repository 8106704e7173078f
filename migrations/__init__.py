"""axd.migrations."""
