"""Profile problems: each names the file, the dotted field and what is allowed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vxdeploy.errors import InvalidInputError


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a profile, precise enough to fix without reading the code."""

    file: str
    field: str
    message: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        text = f"{where}: {self.message}"
        return f"{text} (allowed: {self.allowed})" if self.allowed else text

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class ProfileError(InvalidInputError):
    """Every problem found in a profile, reported together (exit code 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in profile:\n{lines}")

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["problems"] = [p.to_dict() for p in self.problems]
        return body
