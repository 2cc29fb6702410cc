"""What to scan and how to log in: targets, inventories, SSH access, port lists, PEM files."""
