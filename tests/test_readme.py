"""The README's first lines are the two commands a newcomer runs; CI runs the same test command."""

from pathlib import Path

from engine.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_opens_with_install_and_test_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert "pip install" in block[0] and "chessformer" in block[0]
    assert "python -m pytest --slow" in block[1]
    assert lines.index("```bash") < 5
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "python -m pytest --slow" in ci


def test_readme_documents_every_option() -> None:
    text = (ROOT / "README.md").read_text()
    for spec in OPTIONS:
        assert f"`{spec.name}`" in text, spec.name
