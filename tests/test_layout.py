"""The shape of the code, checked: no import cycle between first-party modules (lazy imports included)."""

from __future__ import annotations

import grimp

PACKAGES = ("campaigns", "telephony", "media", "local_agent", "config")


def test_no_first_party_module_imports_one_that_imports_it_back() -> None:
    # grimp (import-linter's graph) sees every import statement, including those inside functions: a lazy
    # import that only hides a cycle counts as one. Imports for type hints only (`if TYPE_CHECKING:`) do not run.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} -> {imported} -> ... -> {module}")
    assert cycles == []
