"""Structural node vectors from the graph itself: FastRP (fast random projection).

Neo4j's Graph Data Science ranks EComm's new products better than kgdistill's
models did (issue 15: FastRP + cosine, Recall@20 0.075 against the student's 0.030),
from structure alone. This is the same idea in numpy and scipy.sparse, computed from
a :class:`~kgframe.GraphFrame`, so a model gets those vectors as inputs:

1. one undirected graph over every customer, product, category and brand: an edge
   per interacted (customer, product) pair (any type, any count), per product and
   its category and brand, per category and its parent;
2. each node starts from a seeded, very sparse random vector (entries
   ``{-1, 0, +1}`` with probabilities ``1/6, 2/3, 1/6``, Achlioptas), scaled by its
   degree to the power ``normalization`` (GDS's ``normalizationStrength``: below 0 a
   popular product or a busy customer counts less in its neighbours' vectors);
3. ``H_i = normalise(D^-1 A H_{i-1})`` for ``i = 1..len(weights)`` (the mean of
   the neighbours' vectors, L2-normalised per node);
4. ``v = normalise(sum_i weights[i] * H_i)``.

A product nobody interacted with still gets a vector through its category and
brand (cold start), one linked to nothing gets zeros. Only interactions strictly
before ``before_day`` count, so a snapshot's vectors never see its own target day.
The vectors are deterministic given the seed and the graph: the scorer recomputes
them from the graph it is bound to, as it does the pair features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from distill.threads import torch_threads
from kgframe import GraphFrame

_SPARSITY = 3.0  # Achlioptas: a third of the entries non-zero


def _edges(frame: GraphFrame, before_day: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(source, target, node count) of the graph's edges, one direction; node ids are
    customers, then products, categories, brands."""
    n_c, n_p, n_k = frame.num_customers, frame.num_products, len(frame.categories)
    off_k, off_b = n_c + n_p, n_c + n_p + n_k
    inter = frame.interactions
    if before_day is not None:
        inter = inter.loc[inter["day"].to_numpy() < int(before_day)]
    sources = [inter["customer"].to_numpy(np.int64)]
    targets = [inter["product"].to_numpy(np.int64) + n_c]
    links = (
        (frame.products, "category", n_c, off_k),
        (frame.products, "brand", n_c, off_b),
        (frame.categories, "parent", off_k, off_k),
    )
    for table, column, own, other in links:
        if column not in table.columns:
            continue
        ref = np.nan_to_num(table[column].to_numpy(np.float64), nan=-1.0).astype(np.int64)
        has = ref >= 0
        sources.append(np.nonzero(has)[0] + own)
        targets.append(ref[has] + other)
    return np.concatenate(sources), np.concatenate(targets), off_b + len(frame.brands)


def _normalise(h: np.ndarray) -> np.ndarray:
    """Rows of ``h`` to unit length, in place (zero rows stay zero); returns ``h``.
    Shapes: [N, D] -> [N, D].

    In place, and the squares summed by einsum: ``h / np.linalg.norm(h, axis=1)``
    allocates two more [N, D] arrays per hop, seconds each for [95,594, 1,024] on the
    virtual machine this was profiled on (ad hoc), where memory new to a process is
    slow to touch."""
    norm = np.sqrt(np.einsum("nd,nd->n", h, h, dtype=np.float64))
    h *= (1.0 / np.maximum(norm, 1e-12)).astype(np.float32)[:, None]
    return h


# above this many bytes of one dense [N, dim] float32 array, FastRP propagates in column
# blocks of at most FASTRP_BLOCK_BYTES each (the same vectors up to float rounding)
FASTRP_DENSE_BYTES = 256 * 2**20
FASTRP_BLOCK_BYTES = 32 * 2**20


def fastrp(
    frame: GraphFrame,
    *,
    dim: int,
    weights: Sequence[float],
    seed: int = 0,
    normalization: float = 0.0,
    before_day: int | None = None,
    dense_bytes: int = FASTRP_DENSE_BYTES,
    block_bytes: int = FASTRP_BLOCK_BYTES,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FastRP vectors of every customer and product (see the module docstring).

    Memory: the sparse adjacency (twice with a ``normalization``: the first hop's own
    operator), and either three dense [N, dim] float32 arrays (N: every node of the
    frame) when one is at most ``dense_bytes``, or in column blocks
    (:func:`_fastrp_blocked`): every hop as float16 [N, dim], the returned
    [N_c + N_p, dim] float32 and two blocks of at most ``block_bytes`` each per
    worker. ``workers``: column blocks propagated side by side, each in its own thread
    (None: torch's thread count, which ``[train] threads`` and ``[predict] threads``
    set; the same vectors bit for bit whatever the count). Two workers took 12.6 s
    against 25.0 s at 5,000,000 interactions, for a peak 476 MB higher (2,116 MB
    against 1,640 MB; more than their blocks: each thread's allocator arena keeps its
    own; bench/fastrp_memory.py).

    Shapes: returns customers [N_c, dim] and products [N_p, dim] float32, rows of unit
    length or zero.
    """
    if dim < 1 or not weights:
        raise ValueError(f"FastRP needs dim >= 1 and at least one weight, got {dim}, {weights}")
    source, target, n = _edges(frame, before_day)
    ones = np.ones(len(source), np.float32)
    adjacency = sp.coo_matrix((ones, (source, target)), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float32)  # undirected, unweighted
    degree = np.asarray(adjacency.sum(axis=1), np.float32).ravel()
    mean = (sp.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency).tocsr()
    rng = np.random.default_rng(seed)
    scale = np.maximum(degree, 1.0) ** np.float32(normalization) if normalization else None
    first = _first_hop(mean, scale)
    n_out = frame.num_customers + frame.num_products
    if n * dim * 4 > dense_bytes:
        width = max(1, block_bytes // (4 * n))
        workers = torch.get_num_threads() if workers is None else workers
        out = _fastrp_blocked(mean, first, rng, n, dim, weights, n_out, width, block_bytes, workers)
    else:
        h = _start_vectors(rng, n, dim, block_bytes)
        out = np.zeros((n, dim), np.float32)
        for hop, weight in enumerate(weights):
            h = _normalise(np.asarray((mean if hop else first) @ h, np.float32))
            out += h if weight == 1 else np.float32(weight) * h  # 1: no temporary
        out = _normalise(out)
    n_c = frame.num_customers
    return out[:n_c], out[n_c:n_out]


def _first_hop(mean: sp.csr_matrix, scale: np.ndarray | None) -> sp.csr_matrix:
    """The first hop's operator: ``mean`` with the degree scaling in its columns, each
    row rescaled to a weighted mean (its weights summing to 1). A hop is normalised per
    row, so a positive factor per row changes nothing but the values held: means of the
    start's ``{-1, 0, +1}``, within float16's range (the blocked path holds its hops in
    it) whatever the degrees and the strength, and not lost under :func:`_normalise`'s
    floor (a hub's leaves at a strength of -4 fell below it and dropped that hop)."""
    if scale is None:
        return mean
    first = mean @ sp.diags(scale.astype(np.float32))
    sums = np.asarray(first.sum(axis=1), np.float64).ravel()
    inverse = (1.0 / np.where(sums > 0, sums, 1.0)).astype(np.float32)
    return (sp.diags(inverse) @ first).tocsr()


def _start_chunks(
    rng: np.random.Generator, n: int, dim: int, block_bytes: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Every node's sparse random start (``{-1, 0, +1}``, see the module docstring), as
    (rows, int8 [rows, dim]) chunks in order: the generator's stream is the same as
    one draw of [n, dim].

    The values are exactly ``rng.choice([-1, 0, 1], p=[p, 1 - 2p, p])``'s (numpy draws
    one uniform per value and counts the cumulative probabilities at or below it),
    found by two comparisons instead of a search and a gather (about 1.7x faster for
    [95,594, 1,024], timed ad hoc)."""
    p = 1.0 / (2.0 * _SPARSITY)
    cdf = np.array([p, 1 - 2 * p, p]).cumsum()
    cdf /= cdf[-1]
    rows = max(1, block_bytes // (8 * dim))  # the draw holds float64 uniforms
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        uniform = rng.random((stop - start, dim))
        block = np.greater_equal(uniform, cdf[0]).view(np.int8)
        block += uniform >= cdf[1]
        block -= 1
        yield slice(start, stop), block


def _start_vectors(rng: np.random.Generator, n: int, dim: int, block_bytes: int) -> np.ndarray:
    """The start (:func:`_start_chunks`) as one float32 array. Shapes: -> [n, dim]."""
    out: np.ndarray = np.empty((n, dim), np.float32)
    for rows, block in _start_chunks(rng, n, dim, block_bytes):
        out[rows] = block
    return out


def _fastrp_blocked(
    mean: sp.csr_matrix,
    first: sp.csr_matrix,
    rng: np.random.Generator,
    n: int,
    dim: int,
    weights: Sequence[float],
    n_out: int,
    width: int,
    block_bytes: int,
    workers: int = 1,
) -> np.ndarray:
    """FastRP with every hop held in float16, ``width`` columns to a block, each block
    its own array, propagated in place: a column of ``mean @ h`` needs only that column
    of ``h``, so each block of the next hop replaces its own block of this one. Hop
    ``i``'s row normalisation needs the norm over every column, so it is applied (and
    the hop added into the sum) as each block is read for the next hop. Four hops cost
    four propagations; float16 between hops moves the vectors by about float16's
    rounding, the precision they are held at anyway (:data:`distill.data.STRUCT_DTYPE`).
    The degree scaling is in ``first`` (:func:`_first_hop`), so the start stays exact in
    float16, and every value held is a mean of values at most 1 in size. ``workers``
    blocks of a hop are propagated side by side (:func:`_blocks_side_by_side`); each
    writes only its own columns, and the squared norms are summed in the blocks' order,
    so the vectors are the same bit for bit whatever the count.
    Shapes: -> [n_out, dim] float32."""
    cols = [slice(c, min(dim, c + width)) for c in range(0, dim, width)]
    hops = [np.empty((n, c.stop - c.start), np.float16) for c in cols]
    for rows, start in _start_chunks(rng, n, dim, block_bytes):
        for block, c in zip(hops, cols, strict=True):
            torch.from_numpy(block[rows]).copy_(torch.from_numpy(start[:, c]))
    out = np.zeros((n_out, dim), np.float32)
    inverse: np.ndarray | None = None  # the previous hop's row norms, inverted

    def step(hop: int, i: int) -> np.ndarray | None:
        """Block ``i`` read at ``hop`` (into the sum) and propagated in place to the
        next hop; returns its part of the next hop's squared row norms."""
        block, c = hops[i], cols[i]
        h = torch.from_numpy(block).float().numpy()  # float16 -> float32, vectorised
        if inverse is not None:
            h *= inverse
            weight = np.float32(weights[hop - 1])
            out[:, c] += h[:n_out] if weight == 1 else weight * h[:n_out]
        if hop == len(weights):
            return None
        h = np.asarray((first if hop == 0 else mean) @ h, np.float32)
        torch.from_numpy(block).copy_(torch.from_numpy(h))
        return np.einsum("nd,nd->n", h, h, dtype=np.float64)

    with _blocks_side_by_side(workers) as run:
        for hop in range(len(weights) + 1):
            squares = np.zeros(n, np.float64)
            for part in run(partial(step, hop), range(len(cols))):  # in the blocks' order
                if part is not None:
                    squares += part
            inverse = (1.0 / np.maximum(np.sqrt(squares), 1e-12)).astype(np.float32)[:, None]
    return _normalise(out)


@contextmanager
def _blocks_side_by_side(
    workers: int,
) -> Iterator[Callable[[Callable[[int], np.ndarray | None], Iterable[int]], Iterator[Any]]]:
    """A ``map`` for FastRP's column blocks: the builtin one, or with ``workers`` > 1 a
    thread pool's (scipy's sparse product and numpy release the GIL), torch's
    intra-op threads at 1 meanwhile so that its conversions do not start threads of
    their own beside the pool's. Results come in the order given either way."""
    if workers <= 1:
        yield map
        return
    with (
        torch_threads(1),
        ThreadPoolExecutor(workers, thread_name_prefix="kgdistill-fastrp") as pool,
    ):
        yield pool.map
