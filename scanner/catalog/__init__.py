"""What to check: the control catalog, profiles, their YAML loader and built-in data."""
