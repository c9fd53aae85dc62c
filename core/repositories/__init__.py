"""SQL lives here. Repositories flush, never commit: the caller owns the transaction."""
