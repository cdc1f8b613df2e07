"""Ready-made NumPyro model scripts built from bayeskern (run each with ``python -m models.<name>``)."""
