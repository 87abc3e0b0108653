"""Teacher and students for link prediction and node classification, PyG style.

- :class:`NodeEncoder`: one node type's features (numerics, categorical embeddings)
  plus an optional learnable id embedding, used only for nodes ``seen`` in training.
- :class:`HeteroGNN`: per-relation ``GATConv`` / ``GATv2Conv`` / ``SAGEConv`` /
  ``GraphConv`` combined by ``HeteroConv``, with a skip connection per layer.
- :class:`FeatureMLP`: the graph-free encoder (GLNN idea): no neighbour fetching,
  so an unseen product is embedded from category, brand and price alone.
- :class:`PairDecoder`: ``dot`` (inner product + a small MLP on pair features) or
  ``mlp`` (an MLP on ``[z_c * z_p, z_c, z_p, pair features]``).
- :class:`LinkPredictor` and :class:`NodeClassifier` put an encoder and a head together.

:func:`build_link_predictor` builds one from a spec (what artifacts store;
:meth:`distill.config.ModelConfig.spec` writes it). The students that can be configured,
and their defaults, are :data:`distill.config.STUDENTS`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GATConv, GATv2Conv, GraphConv, HeteroConv, SAGEConv

from distill.data import EDGE_ATTR_DIM, EDGE_TYPES, INTERACTION_EDGE, NODE_TYPES

EdgeType = tuple[str, str, str]

CONVS: tuple[str, ...] = ("gat", "gatv2", "sage", "graphconv")


class NodeEncoder(nn.Module):
    """Features (and optionally a learnt id vector) of one node type -> ``out_dim``.

    Args:
        num_dim: width of ``x_num``.
        cat_cardinalities: vocabulary size of each ``x_cat`` column (0 = unknown).
        out_dim: output width.
        num_nodes: rows that may own an id embedding (0 with ``id_dim=0``).
        id_dim: id embedding width; 0 turns id embeddings off.
        id_input: the id embedding also enters the output (through a linear map);
            without it the embeddings are only read by :meth:`id_vectors` (the
            decoder's matrix-factorisation term, see :func:`_with_ids`).

    Shapes:
        x_num [N, num_dim], x_cat [N, C], index [N] (rows, for ids), seen [N] bool
        -> [N, out_dim]
    """

    def __init__(
        self,
        *,
        num_dim: int,
        cat_cardinalities: list[int],
        out_dim: int,
        num_nodes: int = 0,
        id_dim: int = 0,
        id_input: bool = True,
    ) -> None:
        super().__init__()
        self.num = nn.Linear(num_dim, out_dim)
        self.cats = nn.ModuleList(nn.Embedding(card, out_dim) for card in cat_cardinalities)
        self.ids = nn.Embedding(num_nodes, id_dim) if id_dim > 0 and num_nodes > 0 else None
        projected = self.ids is not None and id_input
        self.id_proj = nn.Linear(id_dim, out_dim, bias=False) if projected else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.num.reset_parameters()
        for emb in self.cats:
            nn.init.normal_(emb.weight, std=0.1)  # type: ignore[arg-type]  # torch Module attributes are untyped
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=0.1)
        if self.id_proj is not None:
            self.id_proj.reset_parameters()

    def id_vectors(self, index: Tensor, seen: Tensor | None = None) -> Tensor:
        """Each row's id embedding; zeros for rows without one (unknown at training,
        or not ``seen``). Shapes: index [N], seen [N] bool -> [N, id_dim]."""
        assert self.ids is not None, "id_vectors needs id_dim > 0"
        known = (index >= 0) & (index < self.ids.num_embeddings)
        if seen is not None:
            known = known & seen
        safe = torch.where(known, index, torch.zeros_like(index))
        return self.ids(safe) * known.unsqueeze(-1).to(self.ids.weight.dtype)

    def forward(
        self,
        x_num: Tensor,
        x_cat: Tensor,
        index: Tensor | None = None,
        seen: Tensor | None = None,
    ) -> Tensor:
        out = self.num(x_num)
        for j, emb in enumerate(self.cats):
            out = out + emb(x_cat[:, j])
        if self.ids is not None and self.id_proj is not None and index is not None:
            out = out + self.id_proj(self.id_vectors(index, seen))
        return out


def _node_encoders(
    dims: dict[str, tuple[int, list[int]]],
    num_nodes: dict[str, int],
    out_dim: int,
    id_dims: dict[str, int],
    id_input: bool = True,
) -> nn.ModuleDict:
    return nn.ModuleDict(
        {
            t: NodeEncoder(
                num_dim=dims[t][0],
                cat_cardinalities=dims[t][1],
                out_dim=out_dim,
                num_nodes=num_nodes.get(t, 0),
                id_dim=id_dims.get(t, 0),
                id_input=id_input,
            )
            for t in dims
        }
    )


def _encode_nodes(
    encoders: nn.ModuleDict, data: HeteroData, node_types: tuple[str, ...]
) -> dict[str, Tensor]:
    out = {}
    for t in node_types:
        store = data[t]
        n = store.x_num.size(0)
        out[t] = encoders[t](store.x_num, store.x_cat, _id_rows(store, n), store.get("seen"))
    return out


def _id_rows(store: Any, n: int) -> Tensor:
    rows = store.get("id_row")
    return torch.arange(n) if rows is None else rows


def output_rows(store: Any, n: int) -> int:
    """How many of a node type's ``n`` rows an encoder returns: the seeds of a sampled
    subgraph (``num_seeds``, :meth:`distill.sampling.NeighborSampler.sample`; the other
    nodes only carry messages to them), else all."""
    seeds = store.get("num_seeds")
    return n if seeds is None else int(seeds)


COLLAB_TYPES: tuple[str, ...] = ("customer", "product")
STRUCT_WEIGHT = 5.0  # the structural cosine's weight at the start (the loop adjusts it)


def collab_dim(id_dims: dict[str, int] | None) -> int:
    """Width of the collaborative part of customer and product representations: their
    id embedding width when both have one of the same width, else 0 (none)."""
    dims = {(id_dims or {}).get(t, 0) for t in COLLAB_TYPES}
    return dims.pop() if len(dims) == 1 else 0


def _with_ids(encoders: nn.ModuleDict, data: HeteroData, h: dict[str, Tensor]) -> dict[str, Tensor]:
    """``h_t <- [h_t ; e_t]`` for customers and products: their raw id embeddings travel
    beside the learnt representation, so the decoder's dot product holds a matrix
    factorisation term ``e_c . e_p`` (zero for nodes without an id embedding)."""
    out = dict(h)
    for t in COLLAB_TYPES:
        store = data[t]
        encoder = encoders[t]
        assert isinstance(encoder, NodeEncoder)
        n = h[t].size(0)  # the rows returned (output_rows): the store's first n
        seen = store.get("seen")
        ids = encoder.id_vectors(_id_rows(store, n)[:n], None if seen is None else seen[:n])
        out[t] = torch.cat([h[t], ids], dim=-1)
    return out


class _Encoder(nn.Module):
    """What both encoders start from: a :class:`NodeEncoder` per node type of ``dims``
    and, with ``collab``, id embeddings of one width for customers and products."""

    def __init__(
        self,
        dims: dict[str, tuple[int, list[int]]],
        num_nodes: dict[str, int],
        hidden: int,
        dropout: float,
        id_dims: dict[str, int] | None,
        collab: bool,
        struct_dim: int = 0,
        id_input: bool = True,
    ) -> None:
        super().__init__()
        if collab and not collab_dim(id_dims):
            raise ValueError("collab needs customer and product id embeddings of one width")
        self.collab = collab
        self.struct_dim = struct_dim
        self.dropout = dropout
        # without collab nothing else reads the ids: they stay in the input
        self.encoders = _node_encoders(
            dims, num_nodes, hidden, id_dims or {}, id_input or not collab
        )

    def with_struct(self, node_type: str, h: Tensor, struct: Tensor | None) -> Tensor:
        """``[h ; s]``: the node's structural vector (``data[t].struct``, see
        :func:`distill.data.build_graph`) appended when the model uses them, for the
        decoder's cosine term. Shapes: [N, D], [N, S] -> [N, D + S]."""
        if not self.struct_dim:
            return h
        # (a traced size is a tensor: ONNX export checks no width, the tables have it)
        wrong = (
            not torch.jit.is_tracing() and struct is not None and struct.size(-1) != self.struct_dim
        )
        if struct is None or wrong:
            got = "none" if struct is None else f"width {struct.size(-1)}"
            raise ValueError(
                f"the model scores with {self.struct_dim}-wide structural vectors but the "
                f"graph's {node_type}s have {got}: build it with the run's FeatureEncoder"
            )
        return torch.cat([h, struct.to(h.dtype)], dim=-1)


class HeteroGNN(_Encoder):
    """Heterogeneous message passing over every relation of :data:`distill.data.EDGE_TYPES`.

    Each layer: ``h_t <- dropout(elu(HeteroConv(h)_t + W_t h_t))``; the interaction
    relations use their edge attributes when the convolution accepts them (GAT).

    Args:
        dims: node type -> (``x_num`` width, categorical cardinalities).
        num_nodes: node type -> rows that may own an id embedding.
        conv: ``gat`` | ``gatv2`` | ``sage`` | ``graphconv``.
        hidden: width of every node representation (divisible by ``heads`` for GAT).
        heads: attention heads (GAT only).
        layers: message-passing layers.
        dropout: feature dropout (attention dropout is half of it).
        id_dims: node type -> id embedding width (missing or 0: none).
        collab: append customers' and products' raw id embeddings to their output
            (see :func:`collab_dim`), a matrix-factorisation term for the decoder.
        struct_dim: width of the graph's structural vectors (``data[t].struct``),
            appended last to customers' and products' output; 0: not used.
        id_input: id embeddings also enter each node's input to the first layer
            (:class:`NodeEncoder`); off, with ``collab`` they reach the decoder's
            matrix-factorisation term only and message passing sees features alone
            (without ``collab`` they stay in the input: nothing else reads them).

    Shapes:
        data: ``HeteroData`` from :func:`distill.data.build_graph`
        -> dict node type -> [N_t, hidden] (``+ collab_dim`` with ``collab``, then
        ``+ struct_dim``, for customers and products); for a sampled subgraph
        (:class:`distill.sampling.NeighborSampler`) customers' and products' rows are
        their seeds' only (:func:`output_rows`)
    """

    def __init__(
        self,
        *,
        dims: dict[str, tuple[int, list[int]]],
        num_nodes: dict[str, int],
        conv: str = "gat",
        hidden: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.2,
        id_dims: dict[str, int] | None = None,
        collab: bool = False,
        struct_dim: int = 0,
        id_input: bool = True,
    ) -> None:
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
        if conv in ("gat", "gatv2") and hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        super().__init__(dims, num_nodes, hidden, dropout, id_dims, collab, struct_dim, id_input)
        self.convs = nn.ModuleList()
        self.skips = nn.ModuleList()
        for _ in range(layers):
            relations = {}
            for et in EDGE_TYPES:
                relations[et] = _make_conv(conv, hidden, heads, dropout, et)
            self.convs.append(HeteroConv(relations, aggr="sum"))
            self.skips.append(nn.ModuleDict({t: nn.Linear(hidden, hidden) for t in NODE_TYPES}))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for enc in self.encoders.values():
            enc.reset_parameters()  # type: ignore[operator]  # torch Module attributes are untyped
        for hetero in self.convs:
            hetero.reset_parameters()  # type: ignore[operator]  # torch Module attributes are untyped
        for skip in self.skips:
            for lin in skip.values():  # type: ignore[operator]  # torch Module attributes are untyped
                lin.reset_parameters()

    def forward(self, data: HeteroData, struct: bool = True) -> dict[str, Tensor]:
        """``struct=False``: without the structural columns (the learnt ones only)."""
        h = _encode_nodes(self.encoders, data, NODE_TYPES)
        edge_index = {et: data[et].edge_index for et in EDGE_TYPES}
        edge_attr = {et: data[et].edge_attr for et in EDGE_TYPES if "edge_attr" in data[et]}
        chunked = (
            not self.training
            and not torch.is_grad_enabled()
            and sum(e.size(1) for e in edge_index.values()) > INFERENCE_EDGES
        )
        incoming = _Incoming.of(edge_index, h) if chunked else None
        hops = None if chunked else _hop_counts(data)
        for layer, (hetero, skip) in enumerate(zip(self.convs, self.skips, strict=True)):
            if incoming is not None:
                h = _layer_in_chunks(hetero, skip, h, incoming, edge_attr)
                continue
            kwargs: dict[str, Any] = {}
            edges, attrs = edge_index, edge_attr
            if hops is not None:  # a sampled subgraph: what this layer's output reaches
                h, edges, attrs = _trim(h, edge_index, edge_attr, hops, len(self.convs) - layer)
            if _attends(hetero):
                kwargs["edge_attr_dict"] = attrs
            msg = hetero(h, edges, **kwargs)
            h = {
                t: nn.functional.dropout(
                    nn.functional.elu(msg.get(t, 0.0) + skip[t](h[t])),  # type: ignore[index]  # torch Module attributes are untyped
                    p=self.dropout,
                    training=self.training,
                )
                for t in h
            }
        for t in COLLAB_TYPES:
            h[t] = h[t][: output_rows(data[t], h[t].size(0))]
        h = _with_ids(self.encoders, data, h) if self.collab else h
        for t in COLLAB_TYPES if struct else ():
            h[t] = self.with_struct(t, h[t], data[t].get("struct"))
        return h


def _hop_counts(data: HeteroData) -> tuple[dict[str, list[int]], dict[EdgeType, list[int]]] | None:
    """A sampled subgraph's nodes per hop of each type and edges per hop of each
    relation (:meth:`distill.sampling.NeighborSampler.sample`: rows and edge columns in
    hop order), or None for a whole graph."""
    nodes = {t: data[t].get("hop_nodes") for t in data.node_types}
    edges = {et: data[et].get("hop_edges") for et in data.edge_types}
    if any(n is None for n in nodes.values()) or any(e is None for e in edges.values()):
        return None
    return nodes, edges


def _trim(
    h: dict[str, Tensor],
    edge_index: dict[EdgeType, Tensor],
    edge_attr: dict[EdgeType, Tensor],
    hops: tuple[dict[str, list[int]], dict[EdgeType, list[int]]],
    left: int,
) -> tuple[dict[str, Tensor], dict[EdgeType, Tensor], dict[EdgeType, Tensor]]:
    """A sampled subgraph cut to what a layer with ``left`` layers to go (itself
    included) needs for the seeds' output: the nodes of the first ``left`` hops beyond
    the seeds and the edges drawn in those hops (the edges into the nodes ``left - 1``
    hops out or closer). The seeds' rows come out the same; the nodes farther out,
    whose outputs no later layer reads, are not computed (PyG's ``trim_to_layer``).
    At two layers the second skips the second hop's edges, most of a subgraph's."""
    nodes, edges = hops
    kept = {t: x[: sum(nodes[t][: left + 1])] for t, x in h.items()}
    cut = {et: sum(edges[et][:left]) for et in edge_index}
    return (
        kept,
        {et: e[:, : cut[et]] for et, e in edge_index.items()},
        {et: a[: cut[et]] for et, a in edge_attr.items()},
    )


INFERENCE_EDGES = 250_000
"""Edges one step of :class:`HeteroGNN`'s inference passes messages over: a graph with
more is scored a slice of destination nodes at a time (:func:`_layer_in_chunks`), so
scoring a shop's whole graph holds a slice's messages (a GAT's are several times
``edges x hidden`` floats), never the graph's."""


def _attends(hetero: nn.Module) -> bool:
    """Whether a layer's relations are attention convolutions (they read edge attributes)."""
    return any(isinstance(c, (GATConv, GATv2Conv)) for c in hetero.convs.values())  # type: ignore[operator]  # torch Module attributes are untyped


class _Incoming:
    """Each relation's edges sorted by destination (CSR: the edges into node ``v`` are
    positions ``ptr[v]:ptr[v + 1]`` of ``order``), and for each node type the slices of
    destination rows that together receive at most :data:`INFERENCE_EDGES` edges (a
    node with more forms a slice of its own)."""

    def __init__(
        self,
        edge_index: dict[tuple[str, str, str], Tensor],
        ptr: dict[tuple[str, str, str], Tensor],
        order: dict[tuple[str, str, str], Tensor],
        slices: dict[str, list[tuple[int, int]]],
    ) -> None:
        self.edge_index, self.ptr, self.order, self.slices = edge_index, ptr, order, slices

    @classmethod
    def of(cls, edge_index: dict[tuple[str, str, str], Tensor], h: dict[str, Tensor]) -> _Incoming:
        ptr, order = {}, {}
        into = {t: torch.zeros(x.size(0), dtype=torch.long) for t, x in h.items()}
        for et, index in edge_index.items():
            n = h[et[2]].size(0)
            counts = torch.bincount(index[1], minlength=n)
            ptr[et] = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
            order[et] = torch.argsort(index[1], stable=True)
            into[et[2]] += counts
        slices = {t: _slices(counts) for t, counts in into.items()}
        return cls(edge_index, ptr, order, slices)


def _slices(counts: Tensor) -> list[tuple[int, int]]:
    """Consecutive row ranges ``[a, b)`` whose ``counts`` sum to at most
    :data:`INFERENCE_EDGES` (or hold one row). Shapes: counts [N]."""
    ends = torch.cumsum(counts, 0).tolist()
    out, start, base = [], 0, 0
    for row, end in enumerate(ends):
        if end - base > INFERENCE_EDGES and row > start:
            out.append((start, row))
            start, base = row, ends[row - 1]
    if start < len(ends):
        out.append((start, len(ends)))
    return out


def _layer_in_chunks(
    hetero: nn.Module,
    skip: nn.Module,
    h: dict[str, Tensor],
    incoming: _Incoming,
    edge_attr: dict[tuple[str, str, str], Tensor],
) -> dict[str, Tensor]:
    """One :class:`HeteroGNN` layer in inference (no dropout, no gradients), a slice of
    destination rows at a time: each relation's convolution sees the slice's incoming
    edges, their sources' rows and the slice's own rows, so it computes exactly what it
    computes over the whole graph (attention normalises over a node's incoming edges,
    all of which its slice holds) while holding one slice's messages."""
    attends = _attends(hetero)
    out = {}
    for t, x in h.items():
        rows = torch.empty(x.size(0), skip[t].out_features)  # type: ignore[index]  # torch Module attributes are untyped
        relations = [et for et in incoming.edge_index if et[2] == t]
        for a, b in incoming.slices[t]:
            msg: Tensor | float = 0.0
            for et in relations:
                ptr, index = incoming.ptr[et], incoming.edge_index[et]
                pos = incoming.order[et][int(ptr[a]) : int(ptr[b])]
                sources, local = torch.unique(index[0][pos], return_inverse=True)
                kwargs: dict[str, Any] = {}
                if attends and et in edge_attr:
                    kwargs["edge_attr"] = edge_attr[et][pos]
                conv = hetero.convs[et]  # type: ignore[index]  # torch Module attributes are untyped
                edges = torch.stack([local.reshape(-1), index[1][pos] - a])
                msg = msg + conv((h[et[0]][sources], x[a:b]), edges, **kwargs)  # type: ignore[operator]  # torch Module attributes are untyped
            rows[a:b] = nn.functional.elu(msg + skip[t](x[a:b]))  # type: ignore[index]  # torch Module attributes are untyped
        out[t] = rows
    return out


def _make_conv(
    conv: str, hidden: int, heads: int, dropout: float, et: tuple[str, str, str]
) -> nn.Module:
    interaction = et[1] in (INTERACTION_EDGE[1], "rev_interacted")
    edge_dim = EDGE_ATTR_DIM if interaction else None
    if conv in ("gat", "gatv2"):
        attention = GATConv if conv == "gat" else GATv2Conv
        return attention(
            (hidden, hidden),
            hidden // heads,
            heads=heads,
            add_self_loops=False,
            dropout=dropout / 2,
            edge_dim=edge_dim,
        )
    if conv == "sage":
        return SAGEConv((hidden, hidden), hidden, aggr="mean")
    return GraphConv((hidden, hidden), hidden, aggr="mean")


class FeatureMLP(_Encoder):
    """Graph-free encoder of customers and products (GLNN): features -> MLP, no edges read.

    Args:
        dims, num_nodes, id_dims, collab, struct_dim, id_input: as for :class:`HeteroGNN`.
        hidden: output width; layers: MLP depth after the feature encoder.

    Shapes:
        data: ``HeteroData`` (only ``x_num``, ``x_cat``, ``seen`` are read)
        -> dict with ``customer`` [N_c, hidden] and ``product`` [N_p, hidden]
    """

    node_types: tuple[str, ...] = ("customer", "product")

    def __init__(
        self,
        *,
        dims: dict[str, tuple[int, list[int]]],
        num_nodes: dict[str, int],
        hidden: int = 32,
        layers: int = 2,
        dropout: float = 0.1,
        id_dims: dict[str, int] | None = None,
        collab: bool = False,
        struct_dim: int = 0,
        id_input: bool = True,
        struct_input: bool = False,
    ) -> None:
        own = {t: dims[t] for t in self.node_types}
        super().__init__(own, num_nodes, hidden, dropout, id_dims, collab, struct_dim, id_input)
        self.mlps = nn.ModuleDict(
            {
                t: nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(max(layers - 1, 0)))
                for t in self.node_types
            }
        )
        # the structural vectors as an input too: a learnt map of each node's sketch of
        # its neighbourhood (a customer's: of what they and those like them bought);
        # without vectors (struct_dim 0) there is nothing to read
        self.struct_maps = (
            nn.ModuleDict({t: nn.Linear(struct_dim, hidden, bias=False) for t in self.node_types})
            if struct_input and struct_dim
            else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for enc in self.encoders.values():
            enc.reset_parameters()  # type: ignore[operator]  # torch Module attributes are untyped
        for mlp in self.mlps.values():
            for lin in mlp:  # type: ignore[attr-defined]  # torch Module attributes are untyped
                lin.reset_parameters()
        for lin in (self.struct_maps or {}).values():
            lin.reset_parameters()  # type: ignore[operator]  # torch Module attributes are untyped

    def embed(
        self,
        node_type: str,
        x_num: Tensor,
        x_cat: Tensor,
        index: Tensor,
        seen: Tensor | None,
        struct: Tensor | None = None,
        append_struct: bool = True,
    ) -> Tensor:
        """Embed some rows only (what the graph-free path buys: no full-graph pass);
        ``struct``: those rows' structural vectors (read, not computed, here), appended
        unless ``append_struct`` is off."""
        encoder = self.encoders[node_type]
        h = encoder(x_num, x_cat, index, seen)
        if self.struct_maps is not None:
            vectors = self.with_struct(node_type, h[:, :0], struct)  # (checks the width)
            h = h + self.struct_maps[node_type](vectors.to(h.dtype))
        for lin in self.mlps[node_type]:  # type: ignore[attr-defined]  # torch Module attributes are untyped
            h = nn.functional.dropout(nn.functional.elu(h), p=self.dropout, training=self.training)
            h = lin(h)
        if self.collab:
            h = torch.cat([h, encoder.id_vectors(index, seen)], dim=-1)  # type: ignore[operator]
        return self.with_struct(node_type, h, struct) if append_struct else h

    def forward(self, data: HeteroData, struct: bool = True) -> dict[str, Tensor]:
        """``struct=False``: without the structural columns (the learnt ones only)."""
        out = {}
        for t in self.node_types:
            store = data[t]
            all_rows = store.x_num.size(0)
            n = output_rows(store, all_rows)  # (a graph-free model needs no other rows)
            seen = store.get("seen")
            out[t] = self.embed(
                t,
                store.x_num[:n],
                store.x_cat[:n],
                _id_rows(store, all_rows)[:n],
                None if seen is None else seen[:n],
                store.get("struct"),
                append_struct=struct,
            )
        return out


def pair_cosine(s_c: Tensor | None, s_p: Tensor | None) -> Tensor | None:
    """Each row pair's structural cosine ``s_c . s_p`` (None when either side has no
    vectors). Shapes: [N, S], [N, S] -> [N]."""
    if s_c is None or s_p is None:
        return None
    # not einsum: over column slices it becomes a batched matmul, ~10x slower
    return (s_c * s_p).sum(-1)


class PairDecoder(nn.Module):
    """Scores (customer, product) pairs: one logit per pair, and one ranking logit.

    ``dot``: ``z_c . z_p / sqrt(D) + MLP(f)`` (with ``collab_dim`` trailing id-embedding
    columns, those enter as ``w * e_c . e_p``: matrix factorisation, with a learnt weight
    ``w`` that starts at 0);
    ``mlp``: ``MLP([z_c * z_p, z_c, z_p, f])``. The two-class distribution of a pair is
    ``softmax([0, logit])``. Trained against
    negatives drawn by popularity, that logit says how much likelier the pair is than
    a popular product would be: right for a pair's probability, blind to popularity.
    With ``rank_head`` the decoder also gives :meth:`rank`, ``logit + prior(z_p, f)``,
    the score a top K is taken by (trained by the ranking losses of
    :mod:`distill.ranking`, where the prior learns what popularity adds).

    With ``struct_dim``, the last ``struct_dim`` columns of ``z_c`` and ``z_p`` are
    structural vectors of unit length (:mod:`distill.structure`) and add
    ``w_s * s_c . s_p`` (their cosine) to both kinds, with a learnt weight ``w_s`` that
    starts at :data:`STRUCT_WEIGHT`. Nothing else reads them: the random projection's
    basis differs between graphs, their cosines do not (to first order), so the score
    carries over to the graph a run is bound to at predict time.

    Shapes:
        z_c [N, D + S], z_p [N, D + S], f [N, F] -> [N]  (S: ``struct_dim``)
    """

    def __init__(
        self,
        *,
        dim: int,
        pair_dim: int,
        kind: str = "dot",
        hidden: int = 16,
        rank_head: bool = False,
        collab_dim: int = 0,
        struct_dim: int = 0,
        rank_scale: bool = False,
        mf_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in ("dot", "mlp"):
            raise ValueError(f"decoder must be 'dot' or 'mlp', got {kind!r}")
        if not 0 <= collab_dim < dim:
            raise ValueError(f"collab_dim ({collab_dim}) must be in [0, dim ({dim}))")
        self.kind = kind
        self.collab_dim = collab_dim
        self.struct_dim = struct_dim
        self.struct_weight = nn.Parameter(torch.zeros(())) if struct_dim else None
        # how much more the cosine counts in the ranking score than in the pair logit:
        # not learnt by gradient, chosen on the validation ranking after training
        self.rank_struct_scale = (
            nn.Parameter(torch.ones(()), requires_grad=False) if struct_dim and rank_scale else None
        )
        # how much the matrix-factorisation term counts, learnt from 0: on a sparse,
        # feature-rich shop the id embeddings know little, on a dense one most
        self.mf_weight = nn.Parameter(torch.zeros(())) if collab_dim else None
        # in training, the share of pairs scored without the matrix-factorisation term,
        # so that the rest of the score learns to rank without it (see ModelConfig)
        self.mf_dropout = mf_dropout
        in_dim = pair_dim if kind == "dot" else 3 * dim + pair_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.prior = nn.Linear(dim + pair_dim, 1) if rank_head else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        if self.mf_weight is not None:
            nn.init.zeros_(self.mf_weight)
        if self.struct_weight is not None:
            nn.init.constant_(self.struct_weight, STRUCT_WEIGHT)
        if self.prior is not None:
            nn.init.zeros_(self.prior.weight)
            nn.init.zeros_(self.prior.bias)

    def split(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """``z`` -> (the representation, its structural columns or None).
        Shapes: [N, D + S] -> [N, D], [N, S]."""
        if not self.struct_dim:
            return z, None
        return z[:, : -self.struct_dim], z[:, -self.struct_dim :]

    def forward(self, z_c: Tensor, z_p: Tensor, f: Tensor) -> Tensor:
        h_c, s_c = self.split(z_c)
        h_p, s_p = self.split(z_p)
        return self.logit_of(h_c, h_p, f, pair_cosine(s_c, s_p))

    def logit_of(self, h_c: Tensor, h_p: Tensor, f: Tensor, cos: Tensor | None) -> Tensor:
        """:meth:`forward` of representations and the pairs' structural cosines given
        apart (:func:`pair_cosine`): what training uses, the cosines being constants it
        computes once per snapshot rather than gathering 1,024 columns per pair and
        epoch. Shapes: [N, D], [N, D], [N, F], [N] or None -> [N]."""
        return self._plus_cosine(self._logit(h_c, h_p, f), cos, self.struct_weight)

    def rank_struct_weight(self) -> Tensor | None:
        """The structural cosine's weight in the ranking score: the pair logit's times
        :attr:`rank_struct_scale` (None without structural vectors)."""
        if self.struct_weight is None or self.rank_struct_scale is None:
            return self.struct_weight
        return self.struct_weight * self.rank_struct_scale

    def _plus_cosine(self, out: Tensor, cos: Tensor | None, weight: Tensor | None) -> Tensor:
        """``out + weight * cos``: the structural term (rows [N], or a grid [C, P])."""
        if not self.struct_dim:
            return out
        if cos is None:
            raise ValueError(f"this decoder scores with {self.struct_dim}-wide structural vectors")
        assert weight is not None
        return out + weight * cos

    def _logit(self, z_c: Tensor, z_p: Tensor, f: Tensor) -> Tensor:
        if self.kind == "dot":
            # einsum: the row-wise dot product without a [N, D] temporary (faster)
            if not self.collab_dim:
                dot = torch.einsum("nd,nd->n", z_c, z_p)
                return dot / z_c.size(-1) ** 0.5 + self.mlp(f).squeeze(-1)
            h = z_c.size(-1) - self.collab_dim
            # products and sums, not einsum: over column slices einsum is a slow bmm
            dot = (z_c[:, :h] * z_p[:, :h]).sum(-1) / h**0.5
            # the id embeddings' plain dot product: the matrix factorisation they were
            # pre-trained for (distill.train.pretrain_ids)
            mf = (z_c[:, h:] * z_p[:, h:]).sum(-1)
            if self.training and self.mf_dropout > 0:
                mf = mf * (torch.rand_like(mf) >= self.mf_dropout)
            assert self.mf_weight is not None
            return dot + self.mf_weight * mf + self.mlp(f).squeeze(-1)
        return self.mlp(torch.cat([z_c * z_p, z_c, z_p, f], dim=-1)).squeeze(-1)

    def rank(self, z_c: Tensor, z_p: Tensor, f: Tensor) -> Tensor:
        """The ranking logit ``logit + prior([z_p, f])`` (the pair logit without a rank
        head), its structural cosine weighted by :meth:`rank_struct_weight`. Shapes as
        :meth:`forward`."""
        h_c, s_c = self.split(z_c)
        h_p, s_p = self.split(z_p)
        return self.rank_of(h_c, h_p, f, pair_cosine(s_c, s_p))

    def rank_of(self, h_c: Tensor, h_p: Tensor, f: Tensor, cos: Tensor | None) -> Tensor:
        """:meth:`rank` of representations and the pairs' structural cosines given apart
        (as :meth:`logit_of`). Shapes: [N, D], [N, D], [N, F], [N] or None -> [N]."""
        logit = self._logit(h_c, h_p, f)
        if self.prior is not None:
            logit = logit + self.prior(torch.cat([h_p, f], dim=-1)).squeeze(-1)
        return self._plus_cosine(logit, cos, self.rank_struct_weight())

    def rank_grid(self, z_c: Tensor, z_p: Tensor, f: Tensor) -> Tensor:
        """:meth:`rank` of every (customer, product) cell of a grid: the structural
        cosines as one matrix product rather than per cell (they are most of the width).
        Shapes: z_c [C, D + S], z_p [P, D + S], f [C * P, F] (row-major cells) -> [C, P]."""
        h_c, s_c = self.split(z_c)
        h_p, s_p = self.split(z_p)
        return self.rank_grid_of(h_c, h_p, f, s_c, s_p)

    def rank_grid_of(
        self, h_c: Tensor, h_p: Tensor, f: Tensor, s_c: Tensor | None, s_p: Tensor | None
    ) -> Tensor:
        """:meth:`rank_grid` of representations and structural vectors given apart
        (as :meth:`logit_of`). Shapes: [C, D], [P, D], [C * P, F], [C, S], [P, S] -> [C, P]."""
        cos = None if s_c is None or s_p is None else s_c @ s_p.T
        if self.kind == "dot" and not (self.training and self.mf_dropout > 0):
            logit = self._dot_grid(h_c, h_p, f)
        else:
            logit = self.grid_by_cells(h_c, h_p, f)
        return self._plus_cosine(logit, cos, self.rank_struct_weight())

    def _dot_grid(self, h_c: Tensor, h_p: Tensor, f: Tensor) -> Tensor:
        """The ``dot`` decoder's ranking grid (without the structural term) by matrix
        products: its dot products, matrix-factorisation term and the prior's product
        part are each one product over ``[C, D] x [D, P]``; only the pair features ``f``
        go through a per-cell layer. The same as :meth:`grid_by_cells` (up to float
        rounding) without copying each representation once per cell: on the grids of
        evaluation and calibration (16 customers x the catalogue) several times faster.
        Shapes: [C, D], [P, D], [C * P, F] -> [C, P]."""
        n_c, n_p = h_c.size(0), h_p.size(0)
        per_cell = self.mlp(f).reshape(n_c, n_p)
        if self.prior is not None:
            d = h_p.size(-1)
            w = self.prior.weight[0]
            per_cell = per_cell + (f @ w[d:]).reshape(n_c, n_p)
            per_cell = per_cell + (h_p @ w[:d] + self.prior.bias)[None, :]
        if not self.collab_dim:
            return per_cell + (h_c @ h_p.T) / h_c.size(-1) ** 0.5
        h = h_c.size(-1) - self.collab_dim
        assert self.mf_weight is not None
        dot = (h_c[:, :h] @ h_p[:, :h].T) / h**0.5
        return per_cell + dot + self.mf_weight * (h_c[:, h:] @ h_p[:, h:].T)

    def grid_by_cells(self, h_c: Tensor, h_p: Tensor, f: Tensor) -> Tensor:
        """The ranking grid without the structural term, cell by cell: each
        customer's and product's representation copied once per cell and scored as
        :meth:`rank_of` scores pairs. What an ``mlp`` decoder needs (its input joins
        the two), and the reference :meth:`_dot_grid` is checked against.
        Shapes: [C, D], [P, D], [C * P, F] -> [C, P]."""
        n_c, n_p = h_c.size(0), h_p.size(0)
        zc = h_c[:, None, :].expand(n_c, n_p, -1).reshape(n_c * n_p, -1)
        zp = h_p[None, :, :].expand(n_c, n_p, -1).reshape(n_c * n_p, -1)
        logit = self._logit(zc, zp, f)
        if self.prior is not None:
            logit = logit + self.prior(torch.cat([zp, f], dim=-1)).squeeze(-1)
        return logit.reshape(n_c, n_p)


class LinkPredictor(nn.Module):
    """An encoder (``HeteroGNN`` or ``FeatureMLP``) and a :class:`PairDecoder`.

    Shapes:
        data, customers [N], products [N], pair_features [N, F] -> logits [N]
    """

    def __init__(self, *, encoder: nn.Module, decoder: PairDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @property
    def graph_free(self) -> bool:
        return isinstance(self.encoder, FeatureMLP)

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()  # type: ignore[operator]
        self.decoder.reset_parameters()

    def embeddings(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        h = self.encoder(data)
        return h["customer"], h["product"]

    def learnt(self, data: HeteroData) -> tuple[Tensor, Tensor]:
        """:meth:`embeddings` without the structural columns: customers' and products'
        learnt columns, what training and evaluation compute (they read the vectors
        from ``data[t].struct`` rather than as 1,024 columns appended to every row)."""
        h = self.encoder(data, struct=False)
        return h["customer"], h["product"]

    def forward(
        self, data: HeteroData, customers: Tensor, products: Tensor, pair_features: Tensor
    ) -> Tensor:
        z_c, z_p = self.embeddings(data)
        return self.decoder(z_c[customers], z_p[products], pair_features)


class NodeClassifier(nn.Module):
    """An encoder and a linear head over one node type's representation.

    Shapes:
        data -> logits [N_t, num_classes]
    """

    def __init__(self, *, encoder: nn.Module, node_type: str, dim: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.node_type = node_type
        self.head = nn.Linear(dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()  # type: ignore[operator]
        self.head.reset_parameters()

    def forward(self, data: HeteroData) -> Tensor:
        return self.head(self.encoder(data)[self.node_type])


# -- builders -----------------------------------------------------------------------

Dims = dict[str, tuple[int, list[int]]]


def build_encoder(
    *,
    kind: str,
    dims: Dims,
    num_nodes: dict[str, int],
    hidden: int,
    heads: int = 1,
    layers: int = 2,
    dropout: float = 0.1,
    id_dims: dict[str, int] | None = None,
    collab: bool = False,
    struct_dim: int = 0,
    id_input: bool = True,
    struct_input: bool = False,
) -> nn.Module:
    """``kind``: a conv name from :data:`CONVS` (graph encoder) or ``mlp`` (graph-free);
    ``struct_input``: the structural vectors enter the graph-free encoder's input too."""
    if struct_input and kind != "mlp":
        raise ValueError(
            f"struct_in_encoder is for the graph-free student (kind 'mlp'), not {kind!r}"
        )
    if kind == "mlp":
        return FeatureMLP(
            dims=dims,
            num_nodes=num_nodes,
            hidden=hidden,
            layers=layers,
            dropout=dropout,
            id_dims=id_dims,
            collab=collab,
            struct_dim=struct_dim,
            id_input=id_input,
            struct_input=struct_input,
        )
    return HeteroGNN(
        dims=dims,
        num_nodes=num_nodes,
        conv=kind,
        hidden=hidden,
        heads=heads,
        layers=layers,
        dropout=dropout,
        id_dims=id_dims,
        collab=collab,
        struct_dim=struct_dim,
        id_input=id_input,
    )


def build_link_predictor(
    spec: dict[str, Any], dims: Dims, num_nodes: dict[str, int], pair_dim: int
) -> LinkPredictor:
    """Rebuild a link predictor from a plain spec (what artifacts store).

    ``spec`` keys: kind, hidden, heads, layers, dropout, customer_id_dim, product_id_dim,
    decoder, pair_hidden, rank_head, collab (id embeddings beside the representation),
    struct_dim (the graph's structural vectors' width, 0 or absent: not used),
    rank_scale (the structural cosine has a ranking scale of its own; absent: not),
    ids_in_encoder (id embeddings also enter the encoder's input; absent: they do),
    struct_in_encoder (the structural vectors enter a graph-free encoder's input; absent:
    they do not).
    """
    struct_dim = int(spec.get("struct_dim", 0))  # runs saved before it had none
    id_dims = {
        "customer": int(spec.get("customer_id_dim", 0)),
        "product": int(spec.get("product_id_dim", 0)),
    }
    encoder = build_encoder(
        kind=spec["kind"],
        dims=dims,
        num_nodes=num_nodes,
        hidden=int(spec["hidden"]),
        heads=int(spec.get("heads", 1)),
        layers=int(spec.get("layers", 2)),
        dropout=float(spec.get("dropout", 0.1)),
        id_dims=id_dims,
        collab=bool(spec.get("collab", False)),  # runs saved before it had none
        struct_dim=struct_dim,
        id_input=bool(spec.get("ids_in_encoder", True)),  # runs saved before it: in
        struct_input=bool(spec.get("struct_in_encoder", False)),  # runs before it: not
    )
    extra = collab_dim(id_dims) if spec.get("collab", False) else 0
    decoder = PairDecoder(
        dim=int(spec["hidden"]) + extra,
        pair_dim=pair_dim,
        kind=spec.get("decoder", "dot"),
        hidden=int(spec.get("pair_hidden", 16)),
        rank_head=bool(spec.get("rank_head", False)),  # runs saved before it had none
        collab_dim=extra,
        struct_dim=struct_dim,
        rank_scale=bool(spec.get("rank_scale", False)),  # runs saved before it: none
        mf_dropout=float(spec.get("mf_dropout", 0.0)),  # runs saved before it: none
    )
    return LinkPredictor(encoder=encoder, decoder=decoder)
