"""axd.daemon."""
