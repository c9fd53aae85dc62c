"""Platform administration: superusers only."""
