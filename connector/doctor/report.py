"""What ``consent-sync doctor`` found: one line per check, each ok, failed or skipped."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    OK = "ok"
    FAIL = "fail"
    SKIP = "skip"
    """Not checked, and why (not configured, or nothing to check yet); never a failure."""


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. ``subject`` names the key or object (``mailchimp.api_key``, ``audiences.main.list_id``);
    ``message`` says what was found and, when it failed, what to fix."""

    subject: str
    verdict: Verdict
    message: str

    def line(self) -> str:
        return f"[{self.verdict.value:>4}] {self.subject}: {self.message}"


def ok(subject: str, message: str) -> Check:
    return Check(subject, Verdict.OK, message)


def fail(subject: str, message: str) -> Check:
    return Check(subject, Verdict.FAIL, message)


def skip(subject: str, message: str) -> Check:
    return Check(subject, Verdict.SKIP, message)


DATABASE = "database"


@dataclass(frozen=True, slots=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.failures()

    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict is Verdict.FAIL)

    @property
    def database_usable(self) -> bool:
        return all(c.verdict is not Verdict.FAIL for c in self.checks if c.subject == DATABASE)

    def document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [
                {"subject": c.subject, "verdict": c.verdict.value, "message": c.message} for c in self.checks
            ],
        }
