"""axd.client."""
