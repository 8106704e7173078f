"""``python -m axd.daemon``: how `axd` (and systemd, launchd) start the daemon.

The daemon's code is `axd.daemon.entry`; this module only keeps rich out of
the process first (`axd.daemon.norich`), which must happen before anything
imports structlog.
"""

if __name__ == "__main__":
    import axd.daemon.norich  # noqa: F401 - for its effect, first
    from axd.daemon.entry import main

    raise SystemExit(main())
