"""The built-in exchange stands apart from the bot: `exchange/` imports nothing of the bot's
(`actors`, `config`, `runtime`), only the neutral `domain/`; nothing under `actors/` imports it but
the composition root `actors/app/` (the CLI wiring); `domain/` imports nothing of ours at all."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("actors", "config", "runtime", "domain", "exchange")


def _imports(package: str) -> dict[str, set[str]]:
    """module path -> the top-level packages of ours it imports (anywhere in the module)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & set(OURS)
    return found


def test_the_exchange_imports_only_itself_and_the_neutral_domain():
    offending = {m: sorted(names - {"exchange", "domain"}) for m, names in _imports("exchange").items()
                 if names - {"exchange", "domain"}}
    assert offending == {}


def test_only_the_bots_composition_root_imports_the_exchange():
    importers = sorted(m for m, names in _imports("actors").items() if "exchange" in names)
    assert importers and all(m.startswith("actors/app/") for m in importers), importers


def test_the_domain_imports_nothing_of_ours():
    assert {m: sorted(n - {"domain"}) for m, n in _imports("domain").items() if n - {"domain"}} == {}
