"""A business's own SMTP servers (email configurations); passwords write-only, encrypted."""
