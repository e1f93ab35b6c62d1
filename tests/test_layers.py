"""The import graph has no cycle, not even through a function-level import.

The layers themselves are import-linter's contract (pyproject.toml, run by `make test`); a layers
contract does not see a loop inside one area (tokens.models <-> tokens.registry was one), so this
test walks the whole graph, function-level imports included.
"""

from __future__ import annotations

import grimp


def test_no_import_cycles():
    graph = grimp.build_graph("llmledger", cache_dir=None)
    loops = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if module < imported and graph.chain_exists(importer=imported, imported=module):
                back = graph.find_shortest_chain(importer=imported, imported=module)
                loops.append(f"{module} -> {' -> '.join(back)}")
    assert not loops, "import cycles:\n" + "\n".join(loops)
