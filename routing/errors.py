"""Errors the routing core raises for bad input. Each says what was wrong in plain words."""

from __future__ import annotations


class RoutingError(ValueError):
    """Base class: the input could not be routed as given."""


class LocationError(RoutingError):
    """A location that cannot be real: latitude beyond ±90, NaN, a negative radius, bad XML."""


class UnknownZipError(LocationError):
    """A ZIP code that no data set knows."""


class TableError(RoutingError):
    """One problem in a routing table, naming the file, the entry and the reason."""

    def __init__(self, file: str, entry: str, reason: str) -> None:
        self.file, self.entry, self.reason = file, entry, reason
        super().__init__(f"{file}: {entry}: {reason}")


class TablesInvalid(RoutingError):
    """Every problem found in a set of routing tables, so an administrator can fix them at once."""

    def __init__(self, problems: list[TableError]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the routing tables:\n{lines}")
