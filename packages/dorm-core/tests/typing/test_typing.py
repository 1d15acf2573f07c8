"""The types users see: ``mypy --strict`` on ``example_models.py`` and its ``reveal_type`` lines.

Each ``reveal_type(...)  # R: <type>`` line states the expected type; module prefixes and
the spelling of optionals (``Optional[X]``, ``Union[X, None]``, ``X | None``) are normalized
so the assertion is about the substance. Only the example module is checked strictly
(``--follow-imports=silent``): the point is the user-facing types, not dorm's internals.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="the typing check needs mypy installed")

EXAMPLE = Path(__file__).with_name("example_models.py")
EXPECT = re.compile(r"reveal_type\(.*\)\s*#\s*R:\s*(?P<type>.+?)\s*$")
REVEALED = re.compile(r":(?P<line>\d+): note: Revealed type is \"(?P<type>.+)\"")
PREFIXES = re.compile(r"\b(?:builtins|example_models|datetime|decimal|dorm(?:\.\w+)*)\.(?=\w)")


def normalize(text: str) -> str:
    text = PREFIXES.sub("", text.strip())
    text = re.sub(r"^Optional\[(.+)\]$", r"\1 | None", text)
    text = re.sub(r"^Union\[(.+), None\]$", r"\1 | None", text)
    return text.replace("Tuple[", "tuple[").replace("Dict[", "dict[")


def expected_types() -> dict[int, str]:
    expected = {}
    for number, line in enumerate(EXAMPLE.read_text().splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            expected[number] = normalize(match["type"])
    return expected


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = tmp_path_factory.mktemp("mypy-cache")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(cache),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert not errors, "mypy --strict found errors in the example:\n" + "\n".join(errors)
    return output


def test_every_reveal_type_matches(mypy_output: str) -> None:
    revealed = {int(m["line"]): normalize(m["type"]) for m in REVEALED.finditer(mypy_output)}
    expected = expected_types()
    assert len(expected) >= 20
    mismatches = {
        line: (want, revealed.get(line))
        for line, want in expected.items()
        if revealed.get(line) != want
    }
    assert not mismatches, f"line: (expected, revealed) = {mismatches}"


def test_the_acceptance_examples(mypy_output: str) -> None:
    revealed = {int(m["line"]): m["type"] for m in REVEALED.finditer(mypy_output)}
    lines = EXAMPLE.read_text().splitlines()

    def revealed_for(snippet: str) -> str:
        number = next(i for i, line in enumerate(lines, 1) if snippet in line)
        return revealed[number]

    # Author.objects.get(...).name is str
    assert normalize(revealed_for("reveal_type(author.name)  # R: str")) == "str"
    assert revealed_for("reveal_type(author.name)  # R: str") in ("str", "builtins.str")
    # Author.objects.first() is Author | None
    first = revealed_for("reveal_type(Author.objects.first())")
    assert "Author" in first and ("None" in first or first.startswith("Optional["))
    assert normalize(first) == "Author | None"
