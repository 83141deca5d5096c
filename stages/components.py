"""Connected components as Beam transforms (no single-machine union-find over the graph).

Nodes are comparable values (dedup uses ranked ``bytes`` nodes, so the minimum of a component
is its best document). ``connected_components(edges)`` returns ``(node, root)`` for every node
of the edge graph whose component minimum ``root`` is not the node itself.

Method: a fixed number of alternating large-star / small-star rounds (Kiveris et al., 2014,
"Connected Components in MapReduce and Beyond"), each one GroupByKey, both preserving
connectivity and shrinking the graph towards stars around each component's minimum. Then every
node takes ``label = min(itself, neighbours)`` and compares with its neighbours' labels; pairs of
differing labels (empty once converged) form a residual graph over labels only, solved exactly by
``resolve_labels`` and applied as a side input. Correct for any number of rounds: the minimum of
a component is its own label, so a component never loses all its members, and any two nodes of
one component end with the same root.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any

import apache_beam as beam


def large_star(node: Any, neighbours: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """Link every larger neighbour of ``node`` to the minimum of its closed neighbourhood."""
    nbrs = set(neighbours)
    m = min(nbrs | {node})
    for v in nbrs:
        if v > node:
            yield v, m


def small_star(node: Any, smaller: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """Link ``node`` and its smaller neighbours to the minimum of them."""
    group = set(smaller) | {node}
    m = min(group)
    for v in group:
        if v != m:
            yield v, m


def resolve_labels(pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[Any, Any]:
    """Union-find over label pairs: label -> minimum label of its residual component."""
    parent: dict[Any, Any] = {}

    def find(x):
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            parent[hi] = lo
            parent.setdefault(lo, lo)
    return {x: find(x) for x in parent}


def _both_ways(edge):
    u, v = edge
    yield u, v
    yield v, u


def _larger_first(edge):
    u, v = edge
    return (u, v) if u > v else (v, u)


def _label(kv):
    node, nbrs = kv
    nbrs = set(nbrs)
    label = min(nbrs | {node})
    yield node, ("self", label)
    for v in nbrs:
        yield v, ("nbr", label)


def _check(kv):
    node, messages = kv
    own = None
    others = set()
    for kind, label in messages:
        if kind == "self":
            own = label
        else:
            others.add(label)
    yield beam.pvalue.TaggedOutput("label", (node, own))
    for label in others:
        if label != own:
            yield (own, label) if own < label else (label, own)


def connected_components(edges, prefix: str, rounds: int = 4):
    """``edges``: PCollection of ``(u, v)``. Returns PCollection of ``(node, root)`` for nodes
    that are not the minimum of their component."""
    for i in range(rounds):
        edges = (
            edges
            | f"{prefix}:large{i}:both" >> beam.FlatMap(_both_ways)
            | f"{prefix}:large{i}:group" >> beam.GroupByKey()
            | f"{prefix}:large{i}:star" >> beam.FlatMapTuple(large_star)
            | f"{prefix}:small{i}:orient" >> beam.Map(_larger_first)
            | f"{prefix}:small{i}:group" >> beam.GroupByKey()
            | f"{prefix}:small{i}:star" >> beam.FlatMapTuple(small_star)
        )
    checked = (
        edges
        | f"{prefix}:final:both" >> beam.FlatMap(_both_ways)
        | f"{prefix}:final:group" >> beam.GroupByKey()
        | f"{prefix}:final:label" >> beam.FlatMap(_label)
        | f"{prefix}:final:gather" >> beam.GroupByKey()
        | f"{prefix}:final:check"
        >> beam.FlatMap(_check).with_output_types(tuple[Any, Any]).with_outputs("label", main="residual")
    )
    # The residual graph is over labels of unconverged nodes only: empty once the rounds
    # converged, small otherwise, so one process resolves it exactly.
    mapping = (
        checked.residual
        | f"{prefix}:residual:distinct" >> beam.Distinct()
        | f"{prefix}:residual:collect" >> beam.combiners.ToList()
        | f"{prefix}:residual:solve" >> beam.Map(resolve_labels)
    )

    def root_of(kv, mapping):
        node, label = kv
        root = mapping.get(label, label)
        if root != node:
            yield node, root

    return checked.label | f"{prefix}:roots" >> beam.FlatMap(root_of, beam.pvalue.AsSingleton(mapping))
