"""Neighbour sampling for mini-batch training: the subgraph a batch of seed nodes needs.

What PyG's ``NeighborLoader`` does, in plain torch: from the seed nodes of each type,
hop by hop, every node added in the previous hop draws at most ``fanouts[hop]`` of
its incoming edges of each relation (uniformly; all of them when it has no more), and
the nodes at their other ends join the subgraph. A model with ``len(fanouts)``
message-passing layers then computes the seeds' representations from the sampled
subgraph alone, so one training step holds the batch's neighbourhood, never the
whole graph. PyG's own samplers need ``pyg-lib`` or ``torch-sparse`` (compiled
extensions that PyG 2.8 has no pure-torch fallback for and that are not installed
here); this one needs neither.

Draws for a node with more edges than its fan-out are made with replacement and the
repeats dropped (so such a node keeps between 1 and ``fanout`` distinct edges, nearly
always ``fanout`` when its degree is much larger): one ``torch.rand`` per hop, whatever
the degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

EdgeType = tuple[str, str, str]
_EMPTY = torch.zeros(0, dtype=torch.long)


@dataclass
class _Incoming:
    """One relation's edges grouped by target node (CSR): the edges into node ``v`` are
    positions ``ptr[v]:ptr[v + 1]`` of ``src`` (their sources) and ``eid`` (their
    columns in the graph's ``edge_index``)."""

    ptr: Tensor
    src: Tensor
    eid: Tensor


class NeighborSampler:
    """Samples seed-rooted subgraphs of ``graph`` (built once per graph: one sort per
    relation).

    Args:
        graph: the ``HeteroData`` of :func:`distill.data.build_graph`.
        fanouts: edges drawn per node, relation and hop (``[]``: the seeds alone, what
            a graph-free model needs).
        generator: the random stream (seeded by the caller, for repeatable runs).
    """

    def __init__(
        self, graph: HeteroData, fanouts: list[int], generator: torch.Generator | None = None
    ) -> None:
        self.graph = graph
        self.fanouts = list(fanouts)
        self.generator = generator
        self.incoming: dict[EdgeType, _Incoming] = {}
        for et in graph.edge_types:
            edge_index = graph[et].edge_index
            order = torch.argsort(edge_index[1], stable=True)
            counts = torch.bincount(edge_index[1], minlength=graph[et[2]].num_nodes)
            ptr = torch.zeros(counts.numel() + 1, dtype=torch.long)
            ptr[1:] = torch.cumsum(counts, 0)
            self.incoming[et] = _Incoming(ptr, edge_index[0][order], order)

    def _draw(self, et: EdgeType, targets: Tensor, fanout: int) -> tuple[Tensor, Tensor]:
        """Positions (into ``incoming[et]``) of the edges drawn into ``targets``, and the
        target of each."""
        inc = self.incoming[et]
        start, degree = inc.ptr[targets], inc.ptr[targets + 1] - inc.ptr[targets]
        few = degree <= fanout
        # every edge of a node with at most ``fanout``
        counts = degree[few]
        owner = torch.repeat_interleave(torch.arange(counts.numel()), counts)
        offset = torch.arange(owner.numel()) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        all_pos = start[few][owner] + offset
        all_tgt = targets[few][owner]
        # ``fanout`` draws for the others, repeats dropped
        many_start, many_deg, many_tgt = start[~few], degree[~few], targets[~few]
        draw = torch.rand(many_start.numel(), fanout, generator=self.generator)
        drawn = (many_start[:, None] + (draw * many_deg[:, None]).long()).reshape(-1)
        pos, inverse = torch.unique(drawn, return_inverse=True)
        row = torch.empty_like(pos)
        row[inverse] = torch.arange(many_start.numel()).repeat_interleave(fanout)
        return torch.cat([all_pos, pos]), torch.cat([all_tgt, many_tgt[row]])

    def sample(self, seeds: dict[str, Tensor]) -> HeteroData:
        """The subgraph of ``seeds`` (node type -> distinct global rows): each node type's
        rows start with its seeds in the order given, and ``num_seeds`` says how many
        (a model returns those rows only); every store holds the graph's node and edge
        attributes for its rows (``struct``: for the seeds' rows only), and ``id_row``
        the nodes' rows for id embeddings. Rows are in hop order (the seeds, then each
        hop's new nodes: ``hop_nodes`` counts them) and so are each relation's edge
        columns (``hop_edges``: the edges drawn at each hop, into the nodes first reached
        one hop before), so that a model's later layers can skip the far hops
        (:func:`distill.models._trim`).

        Shapes: seeds[t] [S_t] -> subgraph with ``[t].num_nodes >= S_t``."""
        nodes = {t: [seeds.get(t, torch.zeros(0, dtype=torch.long))] for t in self.graph.node_types}
        local = {t: torch.full((self.graph[t].num_nodes,), -1, dtype=torch.long) for t in nodes}
        for t, rows in nodes.items():
            local[t][rows[0]] = torch.arange(rows[0].numel())
        counts = {t: rows[0].numel() for t, rows in nodes.items()}
        frontier = {t: rows[0] for t, rows in nodes.items()}
        edges: dict[EdgeType, list[tuple[Tensor, Tensor]]] = {et: [] for et in self.incoming}
        for fanout in self.fanouts:
            found: dict[str, list[Tensor]] = {t: [] for t in nodes}
            for et in self.incoming:
                targets = frontier[et[2]]
                if targets.numel() == 0:
                    edges[et].append((_EMPTY, _EMPTY))  # this hop drew none: its count is 0
                    continue
                pos, tgt = self._draw(et, targets, fanout)
                edges[et].append((pos, tgt))
                found[et[0]].append(self.incoming[et].src[pos])
            frontier = {}
            for t, parts in found.items():
                new = torch.unique(torch.cat(parts)) if parts else torch.zeros(0, dtype=torch.long)
                new = new[local[t][new] < 0]
                local[t][new] = torch.arange(counts[t], counts[t] + new.numel())
                counts[t] += new.numel()
                nodes[t].append(new)
                frontier[t] = new
        seeded = {t: rows[0].numel() for t, rows in nodes.items()}
        joined = {t: torch.cat(rows) for t, rows in nodes.items()}
        hop_nodes = {t: [r.numel() for r in rows] for t, rows in nodes.items()}
        return self._subgraph(joined, seeded, local, edges, hop_nodes)

    def _subgraph(
        self,
        nodes: dict[str, Tensor],
        seeded: dict[str, int],
        local: dict[str, Tensor],
        edges: dict[EdgeType, list[tuple[Tensor, Tensor]]],
        hop_nodes: dict[str, list[int]],
    ) -> HeteroData:
        sub = HeteroData()
        for t, rows in nodes.items():
            store = self.graph[t]
            # every per-node tensor the models read
            for key in ("x_num", "x_cat", "seen"):
                if key in store:
                    sub[t][key] = store[key][rows]
            # the structural vectors only enter the output rows, the seeds' (see
            # distill.models.output_rows): 1,024 columns for every node within reach
            # were most of a step's copying
            if "struct" in store:
                sub[t].struct = store.struct[rows[: seeded[t]]]
            id_row = store.get("id_row")
            sub[t].id_row = rows if id_row is None else id_row[rows]
            sub[t].num_nodes = rows.numel()
            sub[t].num_seeds = seeded[t]
            sub[t].hop_nodes = hop_nodes[t]
        for et, parts in edges.items():
            inc = self.incoming[et]
            pos = torch.cat([p for p, _ in parts]) if parts else _EMPTY
            tgt = torch.cat([t for _, t in parts]) if parts else _EMPTY
            sub[et].edge_index = torch.stack([local[et[0]][inc.src[pos]], local[et[2]][tgt]])
            sub[et].hop_edges = [p.numel() for p, _ in parts]
            if "edge_attr" in self.graph[et]:
                sub[et].edge_attr = self.graph[et].edge_attr[inc.eid[pos]]
        return sub
