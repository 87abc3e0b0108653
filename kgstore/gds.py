"""Neo4j Graph Data Science (the open build, OpenGDS) beside kgdistill: its calls.

``kgdistill peer gds`` compares kgdistill with what a Neo4j user would try first,
on a private GDS-enabled server that :mod:`kgdistill.peer` provisions and runs.
The graph is projected into GDS's catalogue straight from a
:class:`~kgframe.GraphFrame` (a Cypher projection of integer node ids, values as
parameters), so GDS sees exactly the graph kgdistill trains on. Every call here
returns plain data (arrays, dicts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from neo4j.exceptions import Neo4jError

from kgframe import GraphFrame
from kgstore.connection import QueryRunner
from kgstore.cypher import statement

GDS_VERSION = "2.13.9"  # the OpenGDS line made for Neo4j 5.26
INTERACTED = "INTERACTED"

Progress = Callable[[str], None]


class GdsError(RuntimeError):
    """A Graph Data Science call failed; the message names the statement and GDS's reason."""


def _run(runner: QueryRunner, name: str, **params: Any) -> list[dict[str, Any]]:
    """One GDS call in an auto-commit transaction (no retries of long computations)."""
    try:
        with runner.session() as session:
            return [
                dict(zip(r.keys(), r.values(), strict=True))
                for r in session.run(statement(name), params)
            ]
    except Neo4jError as exc:
        reason = (exc.message or str(exc)).strip().splitlines()[0][:500]
        raise GdsError(f"GDS call cypher/{name}.cypher failed: {reason}") from None


def gds_version(runner: QueryRunner) -> str:
    return str(_run(runner, "gds/version")[0]["version"])


def node_offsets(frame: GraphFrame) -> dict[str, int]:
    """The GDS node id of row 0 of each table: customers, then products, categories, brands."""
    n_c, n_p, n_cat = frame.num_customers, frame.num_products, len(frame.categories)
    return {"Customer": 0, "Product": n_c, "Category": n_c + n_p, "Brand": n_c + n_p + n_cat}


def projection_groups(
    frame: GraphFrame, marks: Mapping[str, Mapping[int, tuple[str, ...]]] | None = None
) -> list[dict[str, Any]]:
    """The graph ``kgdistill load`` builds, as groups of (source id, target id) columns.

    Interactions of every type and day become one INTERACTED relationship per
    customer and product; each table's nodes also come as a group without targets,
    so that a node without relationships is in the graph too. ``marks`` give rows
    more labels (``{"Customer": {row: ("PeerC0",)}, ...}``, see :func:`pair_marks`);
    they come first, since a Cypher projection gives a node the labels of its first
    occurrence.
    """
    off = node_offsets(frame)
    groups = _marked_groups(marks or {}, off)
    inter = frame.interactions[["customer", "product"]].drop_duplicates()
    groups.append(
        _group(
            ["Customer"],
            inter["customer"] + off["Customer"],
            ["Product"],
            inter["product"] + off["Product"],
            INTERACTED,
        )
    )
    products = frame.products
    for column, label, rel in (
        ("category", "Category", "IN_CATEGORY"),
        ("brand", "Brand", "MADE_BY"),
    ):
        if column in products.columns:
            rows = np.nonzero(products[column].to_numpy() >= 0)[0]
            groups.append(
                _group(
                    ["Product"],
                    rows + off["Product"],
                    [label],
                    products[column].to_numpy()[rows] + off[label],
                    rel,
                )
            )
    if "parent" in frame.categories.columns:
        rows = np.nonzero(frame.categories["parent"].to_numpy() >= 0)[0]
        groups.append(
            _group(
                ["Category"],
                rows + off["Category"],
                ["Category"],
                frame.categories["parent"].to_numpy()[rows] + off["Category"],
                "SUBCATEGORY_OF",
            )
        )
    sizes = {
        "Customer": frame.num_customers,
        "Product": frame.num_products,
        "Category": len(frame.categories),
        "Brand": len(frame.brands),
    }
    for label, size in sizes.items():
        groups.append(_group([label], np.arange(size) + off[label], [], [], "NONE"))
    return groups


def _marked_groups(
    marks: Mapping[str, Mapping[int, tuple[str, ...]]], off: dict[str, int]
) -> list[dict[str, Any]]:
    """One node group per table and set of extra labels."""
    groups = []
    for label, labels_of in marks.items():
        rows_of: dict[tuple[str, ...], list[int]] = {}
        for row, labels in labels_of.items():
            rows_of.setdefault(tuple(sorted(labels)), []).append(row)
        for labels, marked in sorted(rows_of.items()):
            groups.append(_group([label, *labels], np.asarray(marked) + off[label], [], [], "NONE"))
    return groups


def context_of(groups: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The node labels and relationship types beyond customers, products and INTERACTED
    that hold anything (a pipeline names them as context for its node property steps)."""
    labels = sorted({g["source"][0] for g in groups if g["src"]} - {"Customer", "Product"})
    types = sorted({g["type"] for g in groups if g["tgt"]} - {INTERACTED})
    return labels, types


def _group(source: list[str], src: Any, target: list[str], tgt: Any, rel: str) -> dict[str, Any]:
    return {
        "source": source,
        "target": target,
        "type": rel,
        "src": np.asarray(src, dtype=np.int64).tolist(),
        "tgt": np.asarray(tgt, dtype=np.int64).tolist(),
    }


def project(runner: QueryRunner, graph: str, groups: list[dict[str, Any]]) -> dict[str, int]:
    """Project ``groups`` (:func:`projection_groups`) into GDS's catalogue as ``graph``
    (undirected), replacing a graph of that name."""
    _run(runner, "gds/drop_graph", graph=graph)
    row = _run(runner, "gds/project_graph", graph=graph, groups=groups)[0]
    return {"nodes": int(row["nodes"]), "relationships": int(row["relationships"])}


def fastrp(
    runner: QueryRunner, graph: str, frame: GraphFrame, config: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """FastRP vectors of the customers and products (rows in frame order; zero when absent)."""
    dim = int(config["embeddingDimension"])
    off = node_offsets(frame)
    n_c, n_p = frame.num_customers, frame.num_products
    z = np.zeros((n_c + n_p, dim), dtype=np.float32)
    rows = _run(runner, "gds/stream_fastrp", graph=graph, config=config, last=n_c + n_p - 1)
    ids = np.fromiter((r["nodeId"] for r in rows), dtype=np.int64, count=len(rows))
    z[ids - off["Customer"]] = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
    return z[:n_c], z[n_c:]


def drop(runner: QueryRunner, graph: str) -> None:
    _run(runner, "gds/drop_graph", graph=graph)


def train_link_prediction(
    runner: QueryRunner,
    graph: str,
    name: str,
    steps: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Build and train GDS's link-prediction pipeline ``name`` (model ``name``) on the
    INTERACTED relationships from customers to products. ``steps``: the pipeline's
    ``fastrp``, ``split``, ``logistic``, ``forest`` configurations and ``trials``."""
    _run(runner, "gds/drop_pipeline", pipeline=name, model=name)
    _run(runner, "gds/create_lp_pipeline", pipeline=name, **steps)
    config = {
        "pipeline": name,
        "modelName": name,
        "targetRelationshipType": INTERACTED,
        "sourceNodeLabel": "Customer",
        "targetNodeLabel": "Product",
        "metrics": ["AUCPR"],
        "randomSeed": seed,
    }
    row = _run(runner, "gds/train_lp_pipeline", graph=graph, config=config)[0]
    return {"best": row["best"], "train_ms": int(row["trainMillis"])}


def pair_marks(
    c: np.ndarray, p: np.ndarray, groups: int
) -> tuple[dict[str, dict[int, tuple[str, ...]]], np.ndarray]:
    """Labels that let GDS score given pairs (customer rows ``c``, product rows ``p``).

    GDS's predict scores every unconnected pair of a source label and a target label.
    The pairs' customers are dealt round robin into ``groups`` groups: group ``g``'s
    customers get label ``PeerC<g>`` and the products of their pairs ``PeerP<g>``, so
    that predicting group by group scores ``sum |C_g| * |P_g|`` pairs instead of
    ``|C| * |P|``. Returns the marks (for :func:`projection_groups`) and each pair's group.
    """
    customers = np.unique(c)
    group_of = {int(x): i % groups for i, x in enumerate(customers.tolist())}
    group = np.array([group_of[int(x)] for x in c.tolist()], dtype=np.int64)
    products: dict[int, set[str]] = {}
    for row, g in zip(p.tolist(), group.tolist(), strict=True):
        products.setdefault(int(row), set()).add(f"PeerP{g}")
    marks: dict[str, dict[int, tuple[str, ...]]] = {
        "Customer": {x: (f"PeerC{g}",) for x, g in group_of.items()},
        "Product": {x: tuple(sorted(labels)) for x, labels in products.items()},
    }
    return marks, group


def predict_link_pairs(
    runner: QueryRunner,
    graph: str,
    model: str,
    frame: GraphFrame,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    progress: Progress = print,
) -> tuple[np.ndarray, int]:
    """The model's probability of each pair (customer rows, product rows, group from
    :func:`pair_marks`, whose labels the projection carries). GDS predicts only
    unconnected pairs: a pair connected in the graph (a repeat) scores 1. Returns the
    scores and how many pairs were repeats."""
    c, p, group = pairs
    off = node_offsets(frame)
    ids_c, ids_p = c + off["Customer"], p + off["Product"]
    found: dict[tuple[int, int], float] = {}
    n_groups = int(group.max()) + 1 if len(group) else 0
    for g in range(n_groups):
        mine = group == g
        wanted = {
            f"{a}:{b}": True
            for a, b in zip(ids_c[mine].tolist(), ids_p[mine].tolist(), strict=True)
        }
        config = {
            "modelName": model,
            "topN": len(np.unique(c[mine])) * len(np.unique(p[mine])),
            "threshold": 0.0,
            "sourceNodeLabel": f"PeerC{g}",
            "targetNodeLabel": f"PeerP{g}",
        }
        for r in _run(
            runner, "gds/stream_lp_predictions", graph=graph, config=config, wanted=wanted
        ):
            a, b = int(r["node1"]), int(r["node2"])
            found[(a, b) if a < b else (b, a)] = float(r["probability"])
        progress(f"predicted group {g + 1}/{n_groups} ({config['topN']:,} candidate pairs)")
    interactions = frame.interactions
    seen = set(
        zip(interactions["customer"].tolist(), interactions["product"].tolist(), strict=True)
    )
    repeat = np.array(
        [(a, b) in seen for a, b in zip(c.tolist(), p.tolist(), strict=True)], dtype=bool
    )
    scores = np.array(
        [
            found.get((a, b) if a < b else (b, a), 0.0)
            for a, b in zip(ids_c.tolist(), ids_p.tolist(), strict=True)
        ]
    )
    scores[repeat] = 1.0
    return scores, int(repeat.sum())
