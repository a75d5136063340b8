"""An import-linter contract: no import circle between any two modules of the project.

import-linter's own `acyclic_siblings` contract looks at the children of one package at a time; a
circle that runs through two apps (cases.x -> imaging.y -> cases.x) or through function-level
imports needs the whole module graph. This contract finds its strongly connected components
(Tarjan's algorithm, iterative so a deep graph cannot hit the recursion limit) and reports each
circle with one shortest path around it, so the message says which import to move.
"""

from __future__ import annotations

from typing import Any, cast

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class _Tarjan:
    """Tarjan's strongly connected components over the import graph, with an explicit stack."""

    def __init__(self, graph: ImportGraph, modules: set[str]) -> None:
        self.graph, self.modules = graph, modules
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.on_stack: set[str] = set()
        self.stack: list[str] = []
        self.components: list[list[str]] = []

    def _visit(self, module: str) -> tuple[str, list[str]]:
        self.index[module] = self.low[module] = len(self.index)
        self.stack.append(module)
        self.on_stack.add(module)
        return module, sorted(self.graph.find_modules_directly_imported_by(module) & self.modules)

    def _close(self, node: str) -> None:
        if self.low[node] != self.index[node]:
            return
        component = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == node:
                break
        if len(component) > 1:
            self.components.append(sorted(component))

    def run_from(self, root: str) -> None:
        work = [self._visit(root)]
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in self.index:
                    work.append(self._visit(child))
                elif child in self.on_stack:
                    self.low[node] = min(self.low[node], self.index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            self._close(node)


def strongly_connected_components(graph: ImportGraph, modules: set[str]) -> list[list[str]]:
    """The components of more than one module (each an import circle), sorted."""
    tarjan = _Tarjan(graph, modules)
    for root in sorted(modules):
        if root not in tarjan.index:
            tarjan.run_from(root)
    return sorted(tarjan.components)


def _circle(graph: ImportGraph, component: list[str]) -> list[str]:
    """One shortest path from the component's first module back to itself."""
    start = component[0]
    best: list[str] | None = None
    for imported in sorted(graph.find_modules_directly_imported_by(start) & set(component)):
        back = graph.find_shortest_chain(importer=imported, imported=start)
        if back and (best is None or len(back) + 1 < len(best)):
            best = [start, *back]
    return best or component


class NoImportCyclesContract(Contract):
    """Options: `containers`, the root packages whose modules may not import each other in a circle."""

    type_name = "no_import_cycles"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        roots = cast(list[str], self.containers)
        modules = {m for m in graph.modules if any(m == r or m.startswith(r + ".") for r in roots)}
        circles = [_circle(graph, c) for c in strongly_connected_components(graph, modules)]
        return ContractCheck(kept=not circles, warnings=[], metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        circles = cast(list[list[str]], check.metadata["circles"])
        for circle in circles:
            output.print_error(" -> ".join(circle), bold=True)
            output.new_line()

    def __repr__(self) -> str:  # pragma: no cover - import-linter's debugging aid
        return f"<NoImportCyclesContract {self.name}: {cast(Any, self.containers)}>"
