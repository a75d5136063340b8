"""The project's own import-linter contract finds circles (so `make contracts` can fail)."""

from __future__ import annotations

import grimp

from tools.import_cycles import strongly_connected_components


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_module(importer)
        graph.add_module(imported)
        graph.add_import(importer=importer, imported=imported)
    return graph


def test_a_circle_through_two_packages_is_one_component() -> None:
    graph = _graph(("a.x", "b.y"), ("b.y", "b.z"), ("b.z", "a.x"), ("a.x", "c.w"))
    assert strongly_connected_components(graph, set(graph.modules)) == [["a.x", "b.y", "b.z"]]


def test_a_tree_has_no_circle() -> None:
    graph = _graph(("a.x", "b.y"), ("a.x", "b.z"), ("b.y", "b.z"))
    assert strongly_connected_components(graph, set(graph.modules)) == []


def test_two_separate_circles_are_both_found() -> None:
    graph = _graph(("a", "b"), ("b", "a"), ("c", "d"), ("d", "e"), ("e", "c"), ("b", "c"))
    assert strongly_connected_components(graph, set(graph.modules)) == [["a", "b"], ["c", "d", "e"]]


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    chain = [(f"m{i}", f"m{i + 1}") for i in range(5000)] + [("m5000", "m0")]
    graph = _graph(*chain)
    (component,) = strongly_connected_components(graph, set(graph.modules))
    assert len(component) == 5001
