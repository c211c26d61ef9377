"""One module per source: ``parse(payload: bytes, ...) -> FeedRows``, pure (no I/O)."""
