"""annexscan: contract security annexes as YAML profiles, verified on real hosts."""

__version__ = "0.1.0"
