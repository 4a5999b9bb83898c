"""Policy problems: every one names the file, the path inside it and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyProblem:
    file: str  # relative to the policy directory, e.g. "rules/direct_care.yaml"
    path: str  # e.g. "rules[3].when.roles[0]" ("" for the whole file)
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '<file>'}: {self.problem}"


class PolicyError(Exception):
    """A policy directory that may not go live. ``problems`` lists every reason found."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid policy")
