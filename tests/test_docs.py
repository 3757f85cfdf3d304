"""The documentation points at what exists: paths, tests, local links and cited sections are all there."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"`((?:connector|tests|bench|config|docs|scripts)/[\w./-]+?)(?:::(\w+))?`")
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)")
SECTION = re.compile(r"mailchimp-behaviour(?:\.md)?`? §(\d+(?:\.\d+)?)")


def test_every_path_and_test_the_pages_name_exists() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for path, test in PATH.findall(text):
            if "*" in path or "<" in path:
                continue
            target = ROOT / path.rstrip(".")
            assert target.exists(), f"{page.name}: {path} does not exist"
            if test:
                assert f"def {test}(" in target.read_text(encoding="utf-8"), f"{page.name}: no {path}::{test}"


def test_every_local_link_resolves() -> None:
    for page in [*PAGES, ROOT / "tests/contracts/specs/README.md"]:
        for link in LINK.findall(page.read_text(encoding="utf-8")):
            assert (page.parent / link).exists(), f"{page.name}: broken link {link}"


def test_every_cited_section_of_mailchimps_behaviour_exists() -> None:
    headings = (ROOT / "docs/mailchimp-behaviour.md").read_text(encoding="utf-8")
    numbers = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", headings, re.MULTILINE))
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    cited = 0
    for name in files.split():
        if not name.endswith((".py", ".md")):
            continue
        for number in SECTION.findall((ROOT / name).read_text(encoding="utf-8", errors="replace")):
            assert number in numbers, f"{name} cites mailchimp-behaviour §{number}, which does not exist"
            cited += 1
    assert cited > 10
