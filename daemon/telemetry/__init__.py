"""Local, opt-in telemetry: consent, batched recording, daily reports."""
