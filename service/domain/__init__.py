"""snapshotd."""
