"""Reporters: each writes the one ScanResult model into a file format.

A reporter is a module of this package that declares FORMAT (the --format name), EXTENSION
(the file's) and `write(result, out: TextIO) -> None`, writing while it iterates
`result.targets` (a stream over the journal in a real scan: never all targets in memory);
scanner.reporters.registry lists it. What every format shares is in scanner.reporters.base.
"""
