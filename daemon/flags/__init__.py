"""Feature flags: definitions, deterministic evaluation, the auto-kill."""
