"""snapshotd: a self-hosted ICE-compatible video snapshot job service."""
