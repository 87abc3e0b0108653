"""Scores from a trained model: arbitrary (customer, product) pairs and top-K per customer.

:class:`Scorer` prepares a loaded model for one GraphFrame (graph, pair-feature
history, the map to training rows) once; scoring is then batched. The graph-free MLP
student embeds only the rows it scores, so customers and products that have no
interactions, or that arrived after training, are scored from their features alone.
Scores are probabilities ``sigmoid(logit)`` of "the customer will interact".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from distill.artifact import LoadedModel
from distill.data import History, build_graph
from distill.models import FeatureMLP, LinkPredictor
from distill.tasks import ids_to_rows
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
            z_c = _embed_needed(model.encoder, graph, "customer", c)
            z_p = _embed_needed(model.encoder, graph, "product", p)
            return decode(z_c, z_p, f)
        z_all_c, z_all_p = embeddings if embeddings is not None else model.embeddings(graph)
        return decode(z_all_c.index_select(0, c), z_all_p.index_select(0, p), f)


def _embed_needed(encoder: FeatureMLP, graph: object, node_type: str, rows: Tensor) -> Tensor:
    """Per-pair embeddings of ``rows``, each distinct row embedded once: when the batch
    touches many of the node type's rows, embedding them all is cheaper than finding the
    distinct ones (a sort)."""
    n = graph[node_type].x_num.size(0)  # type: ignore[index]
    if rows.numel() >= n // 2:
        return _embed_rows(encoder, graph, node_type, None).index_select(0, rows)
    distinct, inverse = torch.unique(rows, return_inverse=True)
    return _embed_rows(encoder, graph, node_type, distinct).index_select(0, inverse)


def _embed_rows(encoder: FeatureMLP, graph: object, node_type: str, rows: Tensor | None) -> Tensor:
    """Embeddings of some rows of a node type (``None``: all of them, no gather)."""
    store = graph[node_type]  # type: ignore[index]
    seen = store.get("seen")
    if rows is None:
        n = store.x_num.size(0)
        id_row = store.get("id_row")
        return encoder.embed(
            node_type, store.x_num, store.x_cat, torch.arange(n) if id_row is None else id_row, seen
        )
    return encoder.embed(
        node_type,
        store.x_num[rows],
        store.x_cat[rows],
        store.id_row[rows],
        seen[rows] if seen is not None else None,
    )


class Scorer:
    """A loaded model bound to one GraphFrame (the training one, or a newer one)."""

    def __init__(self, loaded: LoadedModel, frame: GraphFrame) -> None:
        self.loaded = loaded
        self.frame = frame
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
            zc = z_c[:, None, :].expand(n_c, n_p, -1).reshape(n_c * n_p, -1)
            zp = z_p[None, :, :].expand(n_c, n_p, -1).reshape(n_c * n_p, -1)
            return model.decoder.rank(zc, zp, f.reshape(n_c * n_p, -1)).reshape(n_c, n_p)

    def _drop_seen(self, scores: np.ndarray, chunk: np.ndarray) -> None:
        """Set the scores of products each customer row of ``chunk`` interacted with to
        ``-inf`` (in place). Shapes: [C, P], [C]."""
        n_p = self.frame.num_products
        seen_keys = self.history.pair_keys
        lo = np.searchsorted(seen_keys, chunk * n_p)
        hi = np.searchsorted(seen_keys, (chunk + 1) * n_p)
        for j, (a, b) in enumerate(zip(lo, hi, strict=True)):
            scores[j, seen_keys[a:b] - chunk[j] * n_p] = -np.inf

    def top_k(
        self,
        customer_ids: Sequence[object] | None = None,
        *,
        k: int = 20,
        exclude_seen: bool = True,
        min_score: float | None = None,
        batch_customers: int = 32,
        progress: bool = False,
    ) -> pd.DataFrame:
        """The ``k`` best products per customer: (customer_id, product_id, score, rank),
        by the ranking score (``sigmoid`` of :meth:`~distill.models.PairDecoder.rank`).

        ``exclude_seen`` drops products the customer already interacted with;
        ``min_score`` drops scores below it (so a customer may get fewer than ``k``).
        ``customer_ids`` defaults to every customer of the frame. ``progress`` shows a
        bar over customers.
        """
        if customer_ids is None:
            rows = np.arange(self.frame.num_customers)
        else:
            rows = ids_to_rows(
                self.customer_index, [normalize_id(v) for v in customer_ids], "customer"
            )
        k = min(k, self.frame.num_products)
        out_c, out_p, out_s, out_r = [], [], [], []
        bar = tqdm(
            total=len(rows), desc="scoring", unit="customer", disable=not progress, leave=False
        )
        for start in range(0, len(rows), batch_customers):
            chunk = rows[start : start + batch_customers]
            bar.update(len(chunk))
            scores = torch.sigmoid(self.grid_logits(chunk)).numpy()
            if exclude_seen:
                self._drop_seen(scores, chunk)
            top, top_scores = _best(scores, k)
            keep = np.isfinite(top_scores)
            if min_score is not None:
                keep &= top_scores >= min_score
            ranks = np.broadcast_to(np.arange(1, k + 1), top.shape)
            out_c.append(np.repeat(chunk, k)[keep.ravel()])
            out_p.append(top[keep])
            out_s.append(top_scores[keep])
            out_r.append(ranks[keep])
        bar.close()
        c = np.concatenate(out_c) if out_c else np.zeros(0, np.int64)
        return pd.DataFrame(
            {
                "customer_id": self.customer_index[c].tolist(),
                "product_id": self.product_index[np.concatenate(out_p) if out_p else c].tolist(),
                "score": np.concatenate(out_s) if out_s else np.zeros(0, np.float32),
                "rank": np.concatenate(out_r) if out_r else np.zeros(0, np.int64),
            }
        )


def _best(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``k`` highest scores per row, best first, and those scores.
    Shapes: [C, P] -> [C, k], [C, k]."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
