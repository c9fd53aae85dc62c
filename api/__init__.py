"""The HTTP API: FastAPI app, one folder per domain (router → service → repository)."""
