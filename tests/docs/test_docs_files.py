"""The documentation files: the citation file, the changelog, the pictures, the lengths of the README and
the design notes, and no words about how the project was built instead of what it does."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
# the pattern of the project's acceptance grep, assembled so that this file does not match it itself
BUILD_WORDS = re.compile(
    "|".join(("session [0-9]", "sessions? of", "maint" + "ainers", "issue #[0-9]")), re.I
)


def test_citation_cff_is_valid_cff_1_2_for_the_paper():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # the keys CFF 1.2.0 requires, and its types
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and isinstance(cff["title"], str)
    assert cff["authors"] and all(
        isinstance(a, dict) and ("name" in a or "family-names" in a) for a in cff["authors"]
    )
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2018
    assert paper["title"] == "Video Object Segmentation by Learning Location-Sensitive Embeddings"
    names = [(a["given-names"], a["family-names"]) for a in paper["authors"]]
    assert names == [("Hai", "Ci"), ("Chunyu", "Wang"), ("Yizhou", "Wang")]  # as the paper lists them
    assert "ECCV 2018" in paper["collection-title"]
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert cff["version"] == version


def test_changelog_keeps_a_changelog_form():
    text = (REPO / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert versions[0] == ("Unreleased", "")
    assert all(date for _, date in versions[1:]) and len(versions) >= 2
    sections = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, sections


def test_readme_and_design_lengths_and_pictures():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    assert len((REPO / "docs" / "design.md").read_text().splitlines()) <= 300
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert len(pictures) >= 2
    for picture in pictures:
        path = REPO / picture
        assert path.stat().st_size < 200_000, picture
        with Image.open(path) as image:
            assert image.format in ("PNG", "JPEG") and min(image.size) >= 100, (picture, image.size)
    for link in re.findall(r"\]\(((?:docs/|CHANGELOG|CITATION)[^)#]*)\)", readme):
        assert (REPO / link).exists(), link


def test_no_words_about_how_the_project_was_built():
    """Docs, configuration, code and tests say what the project does and measured, never who did it."""
    paths = [REPO / "README.md", REPO / "CHANGELOG.md"]
    for folder in ("docs", "config", "lsevos", "workflow", "tests"):
        paths += [
            p for p in (REPO / folder).rglob("*") if p.is_file() and p.suffix not in (".pyc", ".png", ".jpg")
        ]
    hits = []
    for path in paths:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if BUILD_WORDS.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)
