"""The command layer: argument parsing and one module per command group."""
