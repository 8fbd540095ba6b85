"""Local environment: pluggable emulators, auto-selection, the probe, `make local-up`."""
