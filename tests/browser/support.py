"""Headless Chromium for the page tests: Debian's ``chromium`` driven by Playwright, and axe-core checks.

Playwright's own browser download cannot reach the internet here, so the tests launch the system's
Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) through ``executable_path``. In CI a missing
browser fails the tests instead of skipping them.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_SCRIPT = Path(__file__).with_name("vendor") / "axe.min.js"
SCREENSHOTS = Path(
    os.environ.get("CONSENT_SYNC_SCREENSHOTS", Path(__file__).parents[2] / "artifacts" / "screenshots")
)
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def chromium_executable() -> str | None:
    """The system's Chromium, or None when it is not installed."""
    for candidate in (os.environ.get("CONSENT_SYNC_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets)}"


def accessibility_violations(page: "Page") -> list[Violation]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2.x A/AA rules)."""
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))  # evaluated, not a <script>: our CSP stays on
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}
    result: dict[str, Any] = page.evaluate(f"async () => await axe.run(document, {json.dumps(options)})")
    return [
        Violation(
            rule=item["id"],
            impact=item.get("impact") or "unknown",
            help=item["help"],
            targets=tuple(str(node["target"]) for node in item["nodes"]),
        )
        for item in result["violations"]
        if item.get("impact") in BLOCKING_IMPACTS
    ]


def screenshot(page: "Page", name: str) -> Path:
    """Save a full-page screenshot as a test artefact (``artifacts/screenshots/NAME.png``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
