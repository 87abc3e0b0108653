"""Scores from a trained model: arbitrary (customer, product) pairs and top-K per customer.

:class:`Scorer` prepares a loaded model for one GraphFrame (graph, pair-feature
history, the map to training rows) once; scoring is then batched. The graph-free MLP
student embeds only the rows it scores, so customers and products that have no
interactions, or that arrived after training, are scored from their features alone.
Scores are probabilities ``sigmoid(logit)`` of "the customer will interact".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from distill.artifact import LoadedModel
from distill.config import IndexOptions
from distill.data import History, build_graph
from distill.models import FeatureMLP, LinkPredictor, PairDecoder, pair_cosine
from distill.tasks import ids_to_rows
from distill.threads import torch_threads
from kgframe import GraphFrame, normalize_id

PAIR_BATCH = 262_144


def scoring_logits(
    model: LinkPredictor,
    graph: object,
    history: History,
    customers: np.ndarray,
    products: np.ndarray,
    embeddings: tuple[Tensor, Tensor] | None = None,
    ranking: bool = False,
) -> Tensor:
    """Logits of pairs (rows of the graph), everything included: for a GNN its full-graph
    message passing (unless ``embeddings`` are given), for the MLP only the scored rows'
    feature encoding; then pair features and the decoder (``ranking``: its ranking
    logit, :meth:`~distill.models.PairDecoder.rank`). Shapes: [N], [N] -> [N].

    Rows are gathered with ``index_select``, about three times faster than advanced
    indexing for 100,000 pairs (same values)."""
    model.eval()
    c = torch.as_tensor(np.asarray(customers, np.int64))
    p = torch.as_tensor(np.asarray(products, np.int64))
    with torch.no_grad():
        f = history.pair_features(np.asarray(customers), np.asarray(products))
        decode = model.decoder.rank if ranking else model.decoder
        if isinstance(model.encoder, FeatureMLP) and embeddings is None:
            t_c, i_c = _embedded(model.encoder, graph, "customer", c)
            t_p, i_p = _embedded(model.encoder, graph, "product", p)
            return _decode_chunked(decode, t_c, i_c, t_p, i_p, f)
        if embeddings is None and model.decoder.struct_dim:
            # the learnt columns and each pair's structural cosine apart: embeddings()
            # appends the 1,024 structural columns to every node's row, [N, D + S]
            # float32 at once (about 1.1 GB at 5,000,000 interactions, where a GNN's
            # 100,000-pair latency in the evaluation was the run's peak)
            h_c, h_p = model.learnt(graph)
            data: Any = graph  # HeteroData
            s_c, s_p = (data[t].get("struct") for t in ("customer", "product"))
            if s_c is None or s_p is None:
                raise ValueError(
                    f"the model scores with {model.decoder.struct_dim}-wide structural "
                    "vectors but the graph has none: build it with the run's FeatureEncoder"
                )
            decode_of = model.decoder.rank_of if ranking else model.decoder.logit_of
            return _decode_apart(decode_of, (h_c, s_c), c, (h_p, s_p), p, f)
        z_all_c, z_all_p = embeddings if embeddings is not None else model.embeddings(graph)
        return _decode_chunked(decode, z_all_c, c, z_all_p, p, f)


# pairs decoded at a time: their gathered rows (with structural vectors, thousands of
# columns) stay in the cache instead of going through memory as one [N, D + S] gather
# (bench/structure_cost.py)
PAIR_CHUNK = 2048


def _decode_chunked(
    decode: Any, t_c: Tensor, i_c: Tensor, t_p: Tensor, i_p: Tensor, f: Tensor
) -> Tensor:
    """``decode(t_c[i_c], t_p[i_p], f)``, :data:`PAIR_CHUNK` pairs at a time.
    Shapes: [U_c, D], [N], [U_p, D], [N], [N, F] -> [N]."""
    n = i_c.numel()
    if n <= PAIR_CHUNK:
        return decode(t_c.index_select(0, i_c), t_p.index_select(0, i_p), f)
    out = torch.empty(n, dtype=t_c.dtype)
    for a in range(0, n, PAIR_CHUNK):
        b = min(a + PAIR_CHUNK, n)
        out[a:b] = decode(t_c.index_select(0, i_c[a:b]), t_p.index_select(0, i_p[a:b]), f[a:b])
    return out


def _decode_apart(
    decode_of: Any,
    side_c: tuple[Tensor, Tensor],
    i_c: Tensor,
    side_p: tuple[Tensor, Tensor],
    i_p: Tensor,
    f: Tensor,
) -> Tensor:
    """``decode_of(h_c[i_c], h_p[i_p], f, s_c[i_c] . s_p[i_p])`` of each side's learnt
    columns ``h`` and structural vectors ``s`` (half precision, as a graph holds them,
    computed with as float32: what :meth:`~distill.models.LinkPredictor.embeddings`
    appends), :data:`PAIR_CHUNK` pairs at a time, so only a chunk's vectors are ever
    float32. Shapes: ([U_c, D], [U_c, S]), [N], ([U_p, D], [U_p, S]), [N], [N, F] -> [N]."""
    (h_c, s_c), (h_p, s_p) = side_c, side_p
    out = torch.empty(i_c.numel(), dtype=h_c.dtype)
    for a in range(0, i_c.numel(), PAIR_CHUNK):
        c, p = i_c[a : a + PAIR_CHUNK], i_p[a : a + PAIR_CHUNK]
        cos = pair_cosine(s_c.index_select(0, c).float(), s_p.index_select(0, p).float())
        out[a : a + PAIR_CHUNK] = decode_of(
            h_c.index_select(0, c), h_p.index_select(0, p), f[a : a + PAIR_CHUNK], cos
        )
    return out


def _shortlist_logits(
    model: LinkPredictor,
    history: History,
    chunk: np.ndarray,
    cols: Tensor,
    z_c: Tensor,
    z_p: Tensor,
    weighted: Tensor | None = None,
) -> Tensor:
    """The ranking logits of each customer row of ``chunk`` with the products of its row
    of ``cols``: :func:`scoring_logits` of those pairs, with each customer's structural
    cosines as one matrix-vector product over its products' vectors instead of its
    own vector gathered once per pair (the widest rows there are); ``weighted``: those
    cosines times the decoder's :meth:`~distill.models.PairDecoder.rank_struct_weight`,
    already computed (the cheap score's), so no vector is gathered.
    Shapes: [C], [C, W], [N_c, D + S], [N_p, D + S], [C, W] -> [C, W]."""
    decoder = model.decoder
    n, width = cols.shape
    f = history.pair_features(np.repeat(chunk, width), cols.reshape(-1).numpy())
    out = torch.empty(n, width, dtype=z_c.dtype)
    rows = torch.as_tensor(np.asarray(chunk, np.int64))
    given = None
    if weighted is not None:
        weight = decoder.rank_struct_weight()
        assert weight is not None
        given = weighted / weight if float(weight) != 0 else torch.zeros_like(weighted)
    # without the structural columns when the cosines are given: narrow gathers
    z_c, z_p = (z_c, z_p) if given is None else (decoder.split(z_c)[0], decoder.split(z_p)[0])
    step = max(1, PAIR_CHUNK // max(width, 1))
    for a in range(0, n, step):
        b = min(a + step, n)
        h_c = z_c.index_select(0, rows[a:b])
        h_p = z_p.index_select(0, cols[a:b].reshape(-1))
        if given is not None:
            cos: Tensor | None = given[a:b].reshape(-1)
        else:
            h_c, s_c = decoder.split(h_c)
            h_p, s_p = decoder.split(h_p)
            cos = None
            if s_c is not None and s_p is not None:
                cos = torch.bmm(s_p.view(b - a, width, -1), s_c.unsqueeze(2)).view(-1)
        pairs = f[a * width : b * width]
        out[a:b] = decoder.rank_of(h_c.repeat_interleave(width, 0), h_p, pairs, cos).view(
            b - a, width
        )
    return out


def _embedded(
    encoder: FeatureMLP, graph: object, node_type: str, rows: Tensor
) -> tuple[Tensor, Tensor]:
    """``(table, index)`` with ``table[index]`` the embeddings of ``rows``, each distinct
    row embedded once: when the batch touches many of the node type's rows, embedding
    them all is cheaper than finding the distinct ones (a sort)."""
    n = graph[node_type].x_num.size(0)  # type: ignore[index]
    if rows.numel() >= n // 2:
        return _embed_rows(encoder, graph, node_type, None), rows
    distinct, inverse = torch.unique(rows, return_inverse=True)
    return _embed_rows(encoder, graph, node_type, distinct), inverse


def _embed_needed(encoder: FeatureMLP, graph: object, node_type: str, rows: Tensor) -> Tensor:
    """Per-pair embeddings of ``rows`` (:func:`_embedded`, gathered)."""
    table, index = _embedded(encoder, graph, node_type, rows)
    return table.index_select(0, index)


def _embed_rows(encoder: FeatureMLP, graph: object, node_type: str, rows: Tensor | None) -> Tensor:
    """Embeddings of some rows of a node type (``None``: all of them, no gather)."""
    store = graph[node_type]  # type: ignore[index]
    seen, struct = store.get("seen"), store.get("struct")
    if rows is None:
        n = store.x_num.size(0)
        id_row = store.get("id_row")
        index = torch.arange(n) if id_row is None else id_row
        return encoder.embed(node_type, store.x_num, store.x_cat, index, seen, struct)
    return encoder.embed(
        node_type,
        store.x_num[rows],
        store.x_cat[rows],
        store.id_row[rows],
        seen[rows] if seen is not None else None,
        struct[rows] if struct is not None else None,
    )


class Scorer:
    """A loaded model bound to one GraphFrame (the training one, or a newer one)."""

    def __init__(
        self, loaded: LoadedModel, frame: GraphFrame, *, cheap_precision: str = "auto"
    ) -> None:
        if cheap_precision not in CHEAP_PRECISIONS:
            raise ValueError(
                f"cheap_precision must be one of {list(CHEAP_PRECISIONS)}, not {cheap_precision!r}"
            )
        self.loaded = loaded
        self.frame = frame
        self.cheap_precision = cheap_precision
        self.customer_index = frame.customer_index()
        self.product_index = frame.product_index()
        id_rows = {
            "customer": pd.Index(loaded.customer_ids).get_indexer(self.customer_index),
            "product": pd.Index(loaded.product_ids).get_indexer(self.product_index),
        }
        self.graph = build_graph(frame, loaded.encoder, id_rows=id_rows)
        self.history = History.from_frame(frame)
        self._embeddings: tuple[Tensor, Tensor] | None = None
        self._product_z: Tensor | None = None
        self._pair_mlp: PairMLP | None = None
        self._index: ProductIndex | None = None
        self._cheap_right: Tensor | None = None
        self._cheap_low: Tensor | None = None  # cheap_right(), rounded
        self._cheap_dtype: torch.dtype | None = None
        if not isinstance(loaded.model.encoder, FeatureMLP):
            with torch.no_grad():
                loaded.model.eval()
                self._embeddings = loaded.model.embeddings(self.graph)

    def rows(
        self, customer_ids: Sequence[object], product_ids: Sequence[object]
    ) -> tuple[np.ndarray, np.ndarray]:
        c_ids = [normalize_id(v) for v in customer_ids]
        p_ids = [normalize_id(v) for v in product_ids]
        return (
            ids_to_rows(self.customer_index, c_ids, "customer"),
            ids_to_rows(self.product_index, p_ids, "product"),
        )

    def score_pairs(
        self,
        customer_ids: Sequence[object],
        product_ids: Sequence[object],
        *,
        ranking: bool = False,
    ) -> pd.DataFrame:
        """(customer_id, product_id, score) for each pair, in input order: the probability
        that the customer interacts (``ranking``: the ranking score :meth:`top_k` writes,
        ``sigmoid`` of the ranking logit). Unknown ids raise ``KeyError`` naming them."""
        if len(customer_ids) != len(product_ids):
            raise ValueError(f"{len(customer_ids)} customer ids but {len(product_ids)} product ids")
        c, p = self.rows(customer_ids, product_ids)
        scores = np.empty(len(c), np.float32)
        for start in range(0, len(c), PAIR_BATCH):
            sl = slice(start, start + PAIR_BATCH)
            logits = scoring_logits(
                self.loaded.model, self.graph, self.history, c[sl], p[sl], self._embeddings, ranking
            )
            scores[sl] = torch.sigmoid(logits).numpy()
        return pd.DataFrame(
            {
                "customer_id": self.customer_index[c].tolist(),
                "product_id": self.product_index[p].tolist(),
                "score": scores,
            }
        )

    def grid_logits(self, customers: np.ndarray) -> Tensor:
        """Ranking logits (:meth:`~distill.models.PairDecoder.rank`) of every product for
        each customer row. Shapes: [C] -> [C, P]."""
        model = self.loaded.model
        with torch.no_grad():
            f = self.history.pair_features_grid(customers)
            n_c, n_p = f.shape[0], f.shape[1]
            if self._embeddings is not None:
                z_c, z_p = self._embeddings
                z_c = z_c[torch.as_tensor(customers)]
            else:
                assert isinstance(model.encoder, FeatureMLP)
                z_c = _embed_rows(model.encoder, self.graph, "customer", torch.as_tensor(customers))
                if self._product_z is None:  # every product, once: the same for each chunk
                    self._product_z = _embed_rows(
                        model.encoder, self.graph, "product", torch.arange(n_p)
                    )
                z_p = self._product_z
            return model.decoder.rank_grid(z_c, z_p, f.reshape(n_c * n_p, -1))

    def all_embeddings(self) -> tuple[Tensor, Tensor]:
        """Every customer's and product's representation, computed once per Scorer (the
        GNN's message passing, or the MLP student's feature encoding of every row)."""
        if self._embeddings is None:
            model = self.loaded.model
            assert isinstance(model.encoder, FeatureMLP)
            with torch.no_grad():
                model.eval()
                self._embeddings = (
                    _embed_rows(model.encoder, self.graph, "customer", None),
                    _embed_rows(model.encoder, self.graph, "product", None),
                )
        return self._embeddings

    def _block(self, fast: bool) -> int:
        """Customers per block: the grid's [C, P, F] pair features are large; the cheap
        scores at most 2**25 floats (128 MiB), 512 customers up to 65,536 products."""
        return max(1, min(512, 2**25 // self.frame.num_products)) if fast else 32

    def _grid_top(
        self, chunk: np.ndarray, k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best products of each customer row of ``chunk``, every product's
        exact ranking score computed (the reference). Shapes: [C] -> [C, k], [C, k]."""
        scores = torch.sigmoid(self.grid_logits(chunk)).numpy()
        if exclude_seen:
            self._drop_seen(scores, chunk)
        return _best(scores, k)

    def pair_mlp(self) -> PairMLP:
        """The decoder's pair MLP made cheap over the catalogue, computed once."""
        if self._pair_mlp is None:
            self._pair_mlp = _pair_mlp(self.loaded.model.decoder, self.history)
        return self._pair_mlp

    def _shortlist_top(
        self,
        chunk: np.ndarray,
        k: int,
        shortlist: int,
        exclude_seen: bool,
        index: IndexOptions | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best products of each customer row of ``chunk`` by the exact ranking
        score, among the ``shortlist`` best by the cheap score (seen products: masked out,
        or, kept, always on the shortlist); ``index``: the cheap score of only the
        products an approximate index finds for each customer (:class:`ProductIndex`),
        not of every product. Shapes: [C] -> [C, k], [C, k]."""
        z_c, z_p = self.all_embeddings()
        n_p = self.frame.num_products
        order = np.argsort(self.pair_mlp().group[chunk], kind="stable")  # runs of references
        chunk = chunk[order]
        with torch.no_grad():
            seen_rows, seen_cols = _seen_positions(self.history.pair_keys, chunk, n_p)
            most_seen = int(np.bincount(seen_rows).max()) if len(seen_rows) else 0
            cosines = None
            if index is None:
                cheap, cosines = _cheap_scores_and_cosines(self, chunk)
                cheap[seen_rows, seen_cols] = -np.inf if exclude_seen else np.inf
                columns = None
            else:
                cheap, columns = self._indexed_cheap_scores(
                    chunk, shortlist, index, seen_rows, seen_cols, most_seen, exclude_seen
                )
            width = min(cheap.size(1), shortlist + (0 if exclude_seen else most_seen))
            cheap_top, cols = torch.topk(cheap, width, dim=1)
            if columns is not None:  # positions among the candidates -> product rows
                cols = torch.gather(columns, 1, cols)
                cols[cheap_top == -np.inf] = 0  # no candidate there: scored, then dropped
            weighted = None if cosines is None else torch.gather(cosines, 1, cols).float()
            logits = _shortlist_logits(
                self.loaded.model, self.history, chunk, cols, z_c, z_p, weighted
            )
            if weighted is not None and self.cosines_rounded:
                reach = _reach(logits, cheap_top, k, self._cosine_bound())
                logits, cols, cheap_top = _exact_top(
                    self.loaded.model,
                    self.history,
                    chunk,
                    reach,
                    logits,
                    cols,
                    cheap_top,
                    z_c,
                    z_p,
                )
        scores = torch.sigmoid(logits).numpy()
        scores[(cheap_top == -np.inf).numpy()] = -np.inf  # seen, or no candidate
        top, top_scores = _best(scores, k)
        back = np.argsort(order)
        return np.take_along_axis(cols.numpy(), top, axis=1)[back], top_scores[back]

    def cheap_right(self) -> Tensor:
        """The product side of the cheap score (:func:`_cheap_right`), computed once."""
        if self._cheap_right is None:
            z_p = self.all_embeddings()[1]
            with torch.no_grad():
                right = _cheap_right(self.loaded.model, self.history, z_p, self.pair_mlp())
            self._cheap_right = right
        return self._cheap_right

    def cheap_product_parts(self, left: Tensor) -> tuple[Tensor, Tensor | None]:
        """``left @ cheap_right().T``, the cheap score's one large matrix product, and
        the weighted structural cosines it adds up (their own product, every column, kept
        so that the shortlist's logits read them instead of gathering the vectors
        again), or None without structural columns. The cosines' product, most of the
        width, runs in float32 or, where ``cheap_precision`` allows and this machine does
        it faster, in bfloat16 (inputs and results rounded, the cosines returned in
        bfloat16: :attr:`cosines_rounded`), and then the rest's narrow product too (only
        the shortlist reads it: the logits compute those terms again, exactly), the two
        added in float32. Shapes: [C, D + 1] -> [C, P], [C, P] or None."""
        right = self.cheap_right()
        width = self._exact_struct_width()
        if not width:  # no structural columns: a narrow product, float32 whatever the choice
            self._cheap_dtype = torch.float32
            return left @ right.T, None
        if self._cheap_dtype is None:
            self._cheap_dtype = _cheap_dtype(
                left[:, :width], right[:, :width], self.cheap_precision
            )
        if self._cheap_dtype == torch.float32:
            cosines = left[:, :width] @ right[:, :width].T
            return torch.addmm(cosines, left[:, width:], right[:, width:].T), cosines
        # rounded (and kept in bfloat16): within COSINE_ERROR * |weight| of float32's
        if self._cheap_low is None:
            self._cheap_low = right.to(self._cheap_dtype)
        low = left.to(self._cheap_dtype)
        cosines = low[:, :width] @ self._cheap_low[:, :width].T
        # the rest rounded too: its narrow product (31 columns on issue 13's shop) took
        # 35-53 ms a block of 512 customers in float32 and 7 ms in bfloat16 (ad hoc)
        rest = low[:, width:] @ self._cheap_low[:, width:].T
        return cosines.float().add_(rest), cosines

    @property
    def cosines_rounded(self) -> bool:
        """Whether the cheap score's weighted structural cosines come rounded (bfloat16),
        so that the shortlist's logits are made exact where they decide the top K."""
        return self._cheap_dtype is not None and self._cheap_dtype != torch.float32

    def _cosine_bound(self) -> float:
        """How far a rounded weighted cosine can be from the float32 one."""
        weight = self.loaded.model.decoder.rank_struct_weight()
        assert weight is not None
        return abs(float(weight.detach())) * COSINE_ERROR

    def _exact_struct_width(self) -> int:
        """The structural columns that lead the cheap score's factors whole (so their
        product is the weighted cosines exactly), or 0."""
        decoder = self.loaded.model.decoder
        return decoder.struct_dim if decoder.rank_struct_weight() is not None else 0

    @property
    def cheap_dtype(self) -> str | None:
        """The precision the cheap score's matrix product runs in (None: not yet chosen)."""
        return None if self._cheap_dtype is None else str(self._cheap_dtype).split(".")[-1]

    def approximate_index(self) -> ProductIndex:
        """The approximate index over every product's side of the cheap score, built
        once (:func:`_index_vectors`)."""
        if self._index is None:
            with torch.no_grad():
                self._index = ProductIndex.build(_index_vectors(self))
        return self._index

    def _indexed_cheap_scores(
        self,
        chunk: np.ndarray,
        shortlist: int,
        options: IndexOptions,
        seen_rows: np.ndarray,
        seen_cols: np.ndarray,
        most_seen: int,
        exclude_seen: bool,
    ) -> tuple[Tensor, Tensor]:
        """The cheap score of the products the index finds for each customer row of
        ``chunk`` (seen ones at ``-inf``; kept, seen products are added at ``+inf``),
        and those products' rows: the index's inner product, which is the cheap score
        but for each customer's own pair MLP term, and that term at the found products.
        Shapes: [C] -> [C, N], [C, N]."""
        index, mlp = self.approximate_index(), self.pair_mlp()
        z_c = self.all_embeddings()[0]
        parts = _cheap_parts(self.loaded.model, self.history, z_c, chunk, mlp)
        n_p = self.frame.num_products
        wanted = min((options.candidates or 4 * shortlist) + most_seen, n_p)
        dots, found = index.search(_index_queries(parts).numpy(), wanted, options)
        columns = torch.as_tensor(np.where(found < 0, 0, found))
        cheap = torch.as_tensor(dots)
        group, deviation, bounds = _references(mlp, chunk)
        mean = mlp.table.mean(0)  # the MLP's term, less the mean the index holds
        for a, b in pairwise(bounds):
            at = columns[a:b]
            cheap[a:b] += (mlp.table[group[a]] - mean)[at]
            response = mlp.response[group[a]][at]  # [b - a, N, H]
            cheap[a:b] += torch.einsum("ch,cnh->cn", deviation[a:b], response)
        keys = chunk[:, None] * n_p + columns.numpy()
        seen = np.zeros(keys.shape, bool)
        if len(self.history.pair_keys):
            at = np.searchsorted(self.history.pair_keys, keys)
            at = at.clip(max=len(self.history.pair_keys) - 1)
            seen = self.history.pair_keys[at] == keys
        cheap[torch.as_tensor(seen | (found < 0))] = -np.inf
        if not exclude_seen and most_seen:
            # every seen product on the shortlist, as without the index
            extra = torch.zeros(len(chunk), most_seen, dtype=torch.long)
            extra_cheap = torch.full((len(chunk), most_seen), -np.inf)
            rank = np.arange(len(seen_rows)) - np.searchsorted(seen_rows, seen_rows)
            extra[seen_rows, rank] = torch.as_tensor(seen_cols)
            extra_cheap[seen_rows, rank] = np.inf
            columns = torch.cat([columns, extra], 1)
            cheap = torch.cat([cheap, extra_cheap], 1)
        return cheap, columns

    def _drop_seen(self, scores: np.ndarray, chunk: np.ndarray) -> None:
        """Set the scores of products each customer row of ``chunk`` interacted with to
        ``-inf`` (in place). Shapes: [C, P], [C]."""
        n_p = self.frame.num_products
        seen_keys = self.history.pair_keys
        lo = np.searchsorted(seen_keys, chunk * n_p)
        hi = np.searchsorted(seen_keys, (chunk + 1) * n_p)
        for j, (a, b) in enumerate(zip(lo, hi, strict=True)):
            scores[j, seen_keys[a:b] - chunk[j] * n_p] = -np.inf

    def top_k(self, customer_ids: Sequence[object] | None = None, **options: Any) -> pd.DataFrame:
        """The ``k`` best products per customer: (customer_id, product_id, score, rank), all
        customers in one frame; ``options`` as :meth:`top_k_blocks`."""
        return pd.concat(list(self.top_k_blocks(customer_ids, **options)), ignore_index=True)

    def top_k_blocks(
        self,
        customer_ids: Sequence[object] | None = None,
        *,
        k: int = 20,
        exclude_seen: bool = True,
        min_score: float | None = None,
        batch_customers: int | None = None,
        progress: bool = False,
        shortlist: int | None = None,
        index: IndexOptions | None = None,
        workers: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The ``k`` best products per customer: (customer_id, product_id, score, rank),
        by the ranking score (``sigmoid`` of :meth:`~distill.models.PairDecoder.rank`),
        one block of customers at a time (at least one block, maybe empty), so that a
        caller can write a block while the next is scored (:meth:`top_k`: in one frame).

        ``exclude_seen`` drops products the customer already interacted with;
        ``min_score`` drops scores below it (so a customer may get fewer than ``k``).
        ``customer_ids`` defaults to every customer of the frame. ``progress`` shows a
        bar over customers.

        ``shortlist``: how many products per customer a cheap score (one matrix product,
        :func:`_cheap_parts`) keeps for the exact ranking logit; ``None``: ``max(10 k,
        200)``; ``0``: the exact logit of every product (:meth:`grid_logits`, slow; the
        reference). The top K is always ranked by the exact ranking logit; a shortlist of
        the whole catalogue gives the exact top K.

        ``index``: the cheap score only of the products an approximate index
        (:class:`ProductIndex`, faiss) finds for each customer, not of every product:
        for catalogues of millions. ``None``: every product's (exact).

        ``workers``: how many blocks are scored at once, each in its own thread with
        ``torch.get_num_threads() // workers`` torch threads (set so meanwhile; the first
        block is scored alone first); ``None``: one per torch thread (``[predict]
        threads``), at most :data:`SCORE_WORKERS`; ``1``: one block at a time, every torch
        thread inside each product. Blocks side by side keep each core busy without
        waiting on the others, so scoring keeps its pace while a Neo4j on the same
        machine takes a core for the write: one product split over two threads waits for
        the slower one at every step (ad hoc, the 650k shop, during a write: 458
        customers/s against 1,622/s as two blocks). Each block holds its own cheap
        scores (up to 128 MiB, :meth:`_block`). With ``index`` one block at a time (faiss
        brings its own threads). Blocks come out in order; while the caller holds a
        block of the side-by-side part, its own thread has the share of torch threads
        too (given back when the iterator ends or is closed).
        """
        rows = (
            np.arange(self.frame.num_customers)
            if customer_ids is None
            else ids_to_rows(
                self.customer_index, [normalize_id(v) for v in customer_ids], "customer"
            )
        )
        k = min(k, self.frame.num_products)
        shortlist = max(10 * k, 200) if shortlist is None else shortlist
        fast = shortlist > 0 and self.loaded.model.decoder.kind == "dot"
        index = index if fast else None  # the exact grid needs no index
        if index is not None:  # built now, not at the first block: a missing faiss fails
            self.approximate_index()  # before the caller starts a write
        step = batch_customers or (min(64, self._block(fast)) if index else self._block(fast))
        if workers is None:
            workers = min(torch.get_num_threads(), SCORE_WORKERS)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        return self._blocks(
            rows,
            k,
            shortlist,
            fast,
            index,
            exclude_seen,
            min_score,
            step,
            progress,
            1 if index is not None else workers,
        )

    def _blocks(
        self,
        rows: np.ndarray,
        k: int,
        shortlist: int,
        fast: bool,
        index: IndexOptions | None,
        exclude_seen: bool,
        min_score: float | None,
        step: int,
        progress: bool,
        workers: int,
    ) -> Iterator[pd.DataFrame]:
        """The blocks :meth:`top_k_blocks` yields, its arguments resolved."""
        none = np.zeros((0, k), np.int64)  # so that no customers still give one block
        bar = tqdm(
            total=len(rows), desc="scoring", unit="customer", disable=not progress, leave=False
        )

        def block(chunk: np.ndarray) -> pd.DataFrame:
            if fast:
                top, top_scores = self._shortlist_top(chunk, k, shortlist, exclude_seen, index)
            else:
                top, top_scores = self._grid_top(chunk, k, exclude_seen)
            return self._rows_frame(_kept(chunk, top, top_scores, min_score))

        chunks = [rows[start : start + step] for start in range(0, len(rows), step)]
        with bar:
            if not chunks:
                yield self._rows_frame(_kept(none[:, 0], none, none.astype(np.float32), None))
            # the first block alone, as it is: what is computed once per Scorer (the
            # embeddings, the cheap score's parts, its precision by timing) is ready
            # before threads share it
            alone = 1 if workers > 1 else len(chunks)
            for chunk in chunks[:alone]:
                yield block(chunk)
                bar.update(len(chunk))
            if chunks[alone:]:
                with torch_threads(max(1, torch.get_num_threads() // workers)):
                    for chunk, frame in _in_order(block, chunks[alone:], workers):
                        yield frame
                        bar.update(len(chunk))

    def _rows_frame(
        self, kept: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    ) -> pd.DataFrame:
        c, p, score, rank = kept
        return pd.DataFrame(
            {
                "customer_id": self.customer_index[c].tolist(),
                "product_id": self.product_index[p].tolist(),
                "score": score,
                "rank": rank,
            }
        )


# blocks of customers scored at once by default (each holds its cheap scores, up to
# 128 MiB, and what the shortlist takes from them); more cores go inside each block
SCORE_WORKERS = 4


def _in_order(
    work: Callable[[np.ndarray], pd.DataFrame], chunks: list[np.ndarray], workers: int
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """``(chunk, work(chunk))`` in ``chunks``' order, ``workers`` chunks worked on at
    once and at most ``2 * workers`` done ahead of the caller (memory stays bounded
    while it writes). Leaving early cancels what has not started."""
    pending: deque[tuple[np.ndarray, Future[pd.DataFrame]]] = deque()
    todo = iter(chunks)
    with ThreadPoolExecutor(workers, thread_name_prefix="kgdistill-score") as pool:
        try:
            for chunk in todo:
                pending.append((chunk, pool.submit(work, chunk)))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                chunk, future = pending.popleft()
                frame = future.result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(work, nxt)))
                yield chunk, frame
        finally:
            for _, future in pending:
                future.cancel()


def _kept(
    chunk: np.ndarray, top: np.ndarray, top_scores: np.ndarray, min_score: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(customer row, product row, score, rank) of the top K rows ``_best`` gave, those
    at ``-inf`` (seen, or no product left) and below ``min_score`` dropped.
    Shapes: [C], [C, k], [C, k] -> 4 x [N]."""
    keep = np.isfinite(top_scores)
    if min_score is not None:
        keep &= top_scores >= min_score
    ranks = np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)
    return np.repeat(chunk, top.shape[1])[keep.ravel()], top[keep], top_scores[keep], ranks[keep]


def _best(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``k`` highest scores per row, best first, and those scores.
    Shapes: [C, P] -> [C, k], [C, k]."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def _seen_positions(
    pair_keys: np.ndarray, chunk: np.ndarray, n_p: int
) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``chunk``, product row) of every interacted pair of ``chunk``'s
    customers (``pair_keys``: sorted ``customer * n_p + product``). Shapes: [C] -> [S], [S]."""
    lo = np.searchsorted(pair_keys, chunk * n_p)
    hi = np.searchsorted(pair_keys, (chunk + 1) * n_p)
    lengths = hi - lo
    rows = np.repeat(np.arange(len(chunk)), lengths)
    # the i-th key of row j sits at lo[j] + i: ranges concatenated without a loop
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keys = pair_keys[np.repeat(lo, lengths) + offsets]
    return rows, keys - chunk[rows] * n_p


def _cheap_scores(scorer: Scorer, chunk: np.ndarray) -> Tensor:
    """:func:`_cheap_scores_and_cosines`'s scores. Shapes: [C] -> [C, P]."""
    return _cheap_scores_and_cosines(scorer, chunk)[0]


def _cheap_scores_and_cosines(scorer: Scorer, chunk: np.ndarray) -> tuple[Tensor, Tensor | None]:
    """A cheap stand-in for the ranking logit of every product for each customer row of
    ``chunk``, for a product the customer has not interacted with, up to a constant per
    customer: the dot products and the prior exactly, the pair MLP exactly for a few
    reference customers and carried to each customer to first order (:class:`PairMLP`).
    One matrix product, one small one per run of customers with the same reference
    (fastest with ``chunk`` sorted by reference), gathers by category and brand. With
    it, the weighted structural cosines where the product has them exactly
    (:meth:`Scorer.cheap_product_parts`). Shapes: [C] -> [C, P], [C, P] or None."""
    history, mlp = scorer.history, scorer.pair_mlp()
    z_c, _ = scorer.all_embeddings()
    left, by_category, by_brand = _cheap_parts(scorer.loaded.model, history, z_c, chunk, mlp)
    scores, cosines = scorer.cheap_product_parts(left)
    group, deviation, bounds = _references(mlp, chunk)
    for a, b in pairwise(bounds):
        scores[a:b] += mlp.table[group[a]]
        scores[a:b].addmm_(deviation[a:b], mlp.response[group[a]].T)
    if by_category.size(1) > 1:  # a single category (or brand) adds a per-customer constant
        scores += by_category[:, torch.as_tensor(history.product_category)]
    if by_brand.size(1) > 1:
        scores += by_brand[:, torch.as_tensor(history.product_brand)]
    return scores, cosines


# how far the weighted structural cosine of two unit vectors rounded to bfloat16
# (8 significant bits), multiplied with float32 sums and rounded again, can be from the
# float32 one, over the weight: each input 2**-8 relative (2**-7 for their product,
# summed over at most the two vectors' norms, 1 each), the result 2**-8; 2**-6 leaves
# room for vectors a little longer than 1 (stored in float16) and the float32 sums
COSINE_ERROR = 2.0**-6


def _reach(logits: Tensor, cheap_top: Tensor, k: int, bound: float) -> Tensor:
    """How many of each customer row's best logits (those with a product: ``cheap_top``
    above ``-inf``) can hold its exact top ``k`` when each logit is within ``bound`` of
    its exact value: every one at most ``2 * bound`` below the row's ``k``-th best (at
    least ``k``, at most the width). Shapes: [C, W], [C, W] -> [C]."""
    width = logits.size(1)
    if width <= k:
        return torch.full((logits.size(0),), width, dtype=torch.long)
    held = logits.masked_fill(cheap_top == -np.inf, -np.inf)
    kth = torch.topk(held, k, dim=1).values[:, -1:]
    return (held >= kth - 2 * bound).sum(1).clamp(min=k)


# customer rows whose logits are made exact together (:func:`_exact_top`): each group's
# width is the most any of its rows needs, rows sorted by what they need
EXACT_GROUP = 64


def _exact_top(
    model: LinkPredictor,
    history: History,
    chunk: np.ndarray,
    reach: Tensor,
    logits: Tensor,
    cols: Tensor,
    cheap_top: Tensor,
    z_c: Tensor,
    z_p: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Each customer row's ``reach`` best products by ``logits`` (:func:`_reach`), their
    logits computed again with float32 structural cosines from the vectors, and their
    columns and cheap scores: every product that can be in the exact top K, with the
    logit float32 cosines give it. Rows are done :data:`EXACT_GROUP` at a time, those
    needing the fewest together; a row's columns beyond its group's width are padding
    (cheap score ``-inf``, never chosen).
    Shapes: [C], [C], [C, W] x 3, [N_c, D + S], [N_p, D + S] -> 3 x [C, max(reach)]."""
    held = logits.masked_fill(cheap_top == -np.inf, -np.inf)
    most = int(reach.max())
    best = torch.topk(held, most, dim=1).indices  # [C, most], best first
    out = torch.full((len(chunk), most), -np.inf)
    out_cols = torch.zeros(len(chunk), most, dtype=cols.dtype)
    out_cheap = torch.full((len(chunk), most), -np.inf)
    order = torch.argsort(reach, stable=True)
    for a in range(0, len(chunk), EXACT_GROUP):
        rows = order[a : a + EXACT_GROUP]
        width = int(reach[rows].max())
        keep = best[rows, :width]
        group_cols = torch.gather(cols[rows], 1, keep)
        out_cols[rows, :width] = group_cols
        out_cheap[rows, :width] = torch.gather(cheap_top[rows], 1, keep)
        out[rows, :width] = _shortlist_logits(
            model, history, chunk[rows.numpy()], group_cols, z_c, z_p
        )
    return out, out_cols, out_cheap


# the cheap score's products (the structural cosines and the rest): "float32",
# "bfloat16" (3 significant digits; the logits that decide the top K are then made
# exact: _reach, _exact_top; the rest only picks the shortlist), or
# "auto": bfloat16 where this machine multiplies in it at least CHEAP_SPEEDUP times
# faster (CPUs with AMX or AVX512-BF16: 3.3x for one block here, timed ad hoc), else float32
CHEAP_PRECISIONS = ("auto", "float32", "bfloat16")
CHEAP_SPEEDUP = 1.5


def _cheap_dtype(left: Tensor, right: Tensor, precision: str) -> torch.dtype:
    """The dtype :meth:`Scorer.cheap_product_parts` multiplies in: ``precision``'s, or for
    ``"auto"`` bfloat16 when one product of this shape (at most 64 customers, the best
    of three) takes at most 1 / :data:`CHEAP_SPEEDUP` of float32's here."""
    if precision != "auto":
        return torch.float32 if precision == "float32" else torch.bfloat16
    a = left[:64]
    low_a, low_b = a.to(torch.bfloat16), right.to(torch.bfloat16)

    def best(run: Callable[[], Tensor]) -> float:
        times = []
        for _ in range(3):
            began = time.perf_counter()
            run()
            times.append(time.perf_counter() - began)
        return min(times)

    fp32 = best(lambda: a @ right.T)
    bf16 = best(lambda: low_a @ low_b.T)
    return torch.bfloat16 if bf16 * CHEAP_SPEEDUP <= fp32 else torch.float32


def _references(mlp: PairMLP, chunk: np.ndarray) -> tuple[np.ndarray, Tensor, list[int]]:
    """Each customer row's reference group, its deviation from that reference
    (:class:`PairMLP`), and where runs of one group begin and end in ``chunk``.
    Shapes: [C] -> [C], [C, H], runs + 1."""
    group = mlp.group[chunk]
    deviation = mlp.pre[torch.as_tensor(chunk)] - mlp.reference[torch.as_tensor(group)]
    return group, deviation, [0, *(np.flatnonzero(np.diff(group)) + 1).tolist(), len(chunk)]


def _cheap_parts(
    model: LinkPredictor,
    history: History,
    z_c: Tensor,
    chunk: np.ndarray,
    mlp: PairMLP,
) -> tuple[Tensor, Tensor, Tensor]:
    """The customer side of the cheap score's factors but the MLP's: ``left @ right.T
    + by_category[:, category(p)] + by_brand[:, brand(p)]`` (``right``:
    :func:`_cheap_right`). A product's pair features when the customer has no history
    with it are (zeros, the customer's counts in its category (3) and brand (1), the
    customer's activity, its popularity (2), its category's popularity); each enters
    the prior linearly. Shapes: [C] -> [C, D + 1], [C, categories], [C, brands]."""
    decoder = model.decoder
    t = history.customer_tables(chunk)
    cell = [torch.as_tensor(t[name]) for name in ("cc", "ccr", "share", "cb")]
    zc, sc = decoder.split(z_c.index_select(0, torch.as_tensor(chunk)))
    h = zc.size(1) - decoder.collab_dim
    scale = torch.full((zc.size(1),), 1.0 / h**0.5)
    if decoder.mf_weight is not None:
        scale[h:] = decoder.mf_weight
    n_pair = history.pair_values.shape[1]
    slopes = mlp.slopes[torch.as_tensor(chunk)]
    if decoder.prior is not None:  # prior([z_p, f]) = w_z . z_p + w_f . f + b
        w = decoder.prior.weight[0]
        slopes = slopes + w[zc.size(1) + n_pair : zc.size(1) + n_pair + 4]
    left = torch.cat([zc * scale, torch.ones(len(chunk), 1)], 1)
    weight = decoder.rank_struct_weight()
    if sc is not None and weight is not None:
        left = torch.cat([sc * weight, left], 1)  # w_s * cosine, exactly
    by_category = sum(slopes[:, i, None] * cell[i] for i in range(3))
    assert isinstance(by_category, Tensor)
    return left, by_category, slopes[:, 3, None] * cell[3]


def _cheap_right(model: LinkPredictor, history: History, z_p: Tensor, mlp: PairMLP) -> Tensor:
    """The product side of :func:`_cheap_parts`: ``right``, one row per product.
    Shapes: [P, D'] -> [P, D + 1]."""
    decoder = model.decoder
    zp, sp = decoder.split(z_p)
    by_product = torch.zeros(zp.size(0))
    if decoder.prior is not None:
        w = decoder.prior.weight[0]
        n_pair = history.pair_values.shape[1]
        by_product = zp @ w[: zp.size(1)] + mlp.product @ w[zp.size(1) + n_pair + 5 :]
    right = torch.cat([zp, by_product[:, None]], 1)
    if sp is not None and decoder.rank_struct_weight() is not None:
        right = torch.cat([sp, right], 1)
    return right


@dataclass(frozen=True)
class PairMLP:
    """The decoder's pair MLP (``Linear, ReLU, Linear``) made cheap over the catalogue.

    Each customer's first-layer input at its average product (pair features averaged
    over the catalogue, the product features left out) is ``pre``; customers are
    grouped by activity, and each group's mean ``reference``. ``table`` is the MLP of
    every product at each reference, ``response`` its slope there in each hidden unit:
    ``table + (pre - reference) . response`` is the MLP to first order. ``slopes``:
    each customer's slopes in its category and brand counts (which vary by product)
    at its average product. ``product``: the product features (popularity (2), the
    category's popularity).

    Shapes: pre [C, H], group [C], reference [G, H], table [G, P], response [G, P, H],
    slopes [C, 4], product [P, 3].
    """

    pre: Tensor
    group: np.ndarray
    reference: Tensor
    table: Tensor
    response: Tensor
    slopes: Tensor
    product: Tensor


def _pair_mlp(decoder: PairDecoder, history: History, groups: int = 32) -> PairMLP:
    """:class:`PairMLP` for every customer of ``history`` (``response`` at most 2**25
    floats: fewer groups for a large catalogue)."""
    first, last = decoder.mlp[0], decoder.mlp[2]
    assert isinstance(first, torch.nn.Linear) and isinstance(last, torch.nn.Linear)
    t = history.global_tables()
    product = torch.stack(
        [torch.as_tensor(t[name]) for name in ("pop", "popr")]
        + [torch.as_tensor(t["catr"][history.product_category])],
        dim=1,
    )
    n_pair = history.pair_values.shape[1]
    n_c, width = history.customer_category.shape
    average = torch.zeros(n_c, first.in_features)
    # each customer's category and brand columns averaged over the catalogue, a block
    # of customers' dense rows at a time (History holds them sparse)
    shares = [
        torch.as_tensor(np.bincount(codes, minlength=size) / len(codes), dtype=torch.float32)
        for codes, size in (
            *[(history.product_category, width)] * 3,
            (history.product_brand, history.customer_brand.shape[1]),
        )
    ]
    block = max(1, 2**22 // max(width, history.customer_brand.shape[1]))
    for start in range(0, n_c, block):
        rows = np.arange(start, min(n_c, start + block))
        tables = history.customer_tables(rows)
        for i, name in enumerate(("cc", "ccr", "share", "cb")):
            average[rows, n_pair + i] = torch.as_tensor(tables[name]) @ shares[i]
    average[:, n_pair + 4] = torch.as_tensor(t["act"])
    with torch.no_grad():
        pre = first(average)
        by_product = product @ first.weight[:, n_pair + 5 :].T  # [P, H]
        active = (pre + by_product.mean(0) > 0).float() * last.weight[0]
        slopes = active @ first.weight[:, n_pair : n_pair + 4]
        groups = max(1, min(groups, len(pre), 2**25 // max(by_product.numel(), 1)))
        group = np.empty(len(pre), np.int64)
        group[np.argsort(t["act"], kind="stable")] = np.arange(len(pre)) * groups // len(pre)
        count = torch.as_tensor(np.bincount(group, minlength=groups)).clamp(min=1)[:, None]
        reference = torch.zeros(groups, pre.size(1)).index_add_(0, torch.as_tensor(group), pre)
        hidden = (reference / count)[:, None, :] + by_product[None]
        response = (hidden > 0).float() * last.weight[0]
        table = torch.relu(hidden) @ last.weight[0]
    return PairMLP(pre, group, reference / count, table, response, slopes, product)


def _index_vectors(scorer: Scorer) -> np.ndarray:
    """Each product's side of the cheap score as one vector: ``right``, its category
    and brand one-hot (where there are more than one), the pair MLP's mean over the
    reference customers; so that its inner product with :func:`_index_queries` is the
    cheap score but each customer's deviation from that mean.
    Shapes: -> [P, D + 1 (+ categories) (+ brands) + 1]."""
    history = scorer.history
    parts = [scorer.cheap_right()]
    for codes, cells in (
        (history.product_category, history.customer_category),
        (history.product_brand, history.customer_brand),
    ):
        width = cells.shape[1]
        if width > 1:  # one group adds a per-customer constant, as in _cheap_scores
            parts.append(torch.nn.functional.one_hot(torch.as_tensor(codes), width).float())
    parts.append(scorer.pair_mlp().table.mean(0)[:, None])
    return torch.cat(parts, 1).numpy()


def _index_queries(parts: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Each customer's side of :func:`_index_vectors`, from :func:`_cheap_parts`."""
    left, by_category, by_brand = parts
    sides = [left] + [by for by in (by_category, by_brand) if by.size(1) > 1]
    return torch.cat([*sides, torch.ones(len(left), 1)], 1)


@dataclass
class ProductIndex:
    """An approximate maximum-inner-product index over every product's cheap-score
    vector (faiss ``IVF``, flat lists): about ``sqrt(P)`` lists of products (k-means
    on at most 64 products per list), each customer's query searching the lists
    nearest to it. The products it misses are the price of not scoring every product
    (``bench/predict_speed.py --index`` prints its recall against the exact top K)."""

    index: Any
    lists: int
    size: int

    @classmethod
    def build(cls, vectors: np.ndarray) -> ProductIndex:
        faiss = _faiss()
        faiss.omp_set_num_threads(torch.get_num_threads())  # as scoring's ([predict] threads)
        size, dim = vectors.shape
        lists = max(1, min(int(size**0.5), size // 39))  # faiss: 39 products per list
        index = faiss.index_factory(dim, f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(index).cp.max_points_per_centroid = 64  # k-means sample
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.train(vectors)
        index.add(vectors)
        return cls(index, lists, size)

    def search(
        self, queries: np.ndarray, n: int, options: IndexOptions
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` products of highest inner product with each query row, best first,
        as the index finds them (``-1`` where it found fewer), and those inner products.
        Shapes: [C, D] -> [C, n], [C, n]."""
        enough = int(np.ceil(3 * n * self.lists / self.size))
        self.index.nprobe = min(self.lists, max(options.probes, enough))
        dots, found = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
        return np.asarray(dots, dtype=np.float32), np.asarray(found, dtype=np.int64)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # an optional dependency: kgdistill[ann]
        raise RuntimeError(
            '[predict] index = "faiss" needs the faiss-cpu package: '
            "pip install 'kgdistill[ann]' (make venv installs it)"
        ) from exc
    return faiss
