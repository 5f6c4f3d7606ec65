"""Where recordings live: path confinement, the SQLite index, reconciliation,
the finish webhook."""
