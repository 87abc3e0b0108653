"""The graph-free student's scoring function as ONNX, and the tables that feed it.

:func:`export_onnx` writes one ONNX graph: encoded customer features, encoded product
features and pair features in, a score out. It runs in onnxruntime with no torch. Its
inputs (``N`` pairs; widths fixed by the artifact's feature encoder):

- ``customer_num`` float32 [N, Fc], ``customer_cat`` int64 [N, Cc]: the customer's
  encoded features (:meth:`distill.data.FeatureEncoder.encode`);
- ``customer_id`` int64 [N], only when the model has customer id embeddings: the
  customer's row in the training frame, or -1 for a customer unknown at training or
  without interactions (it is then scored from its features alone);
- ``product_num``, ``product_cat`` (and ``product_id``, only with product id embeddings),
  the same for the product;
- ``pair`` float32 [N, 13]: :data:`distill.data.PAIR_FEATURES`, log1p counts from the
  interaction history (:meth:`distill.data.History.pair_features`);
- ``customer_struct``, ``product_struct`` float32 [N, S], only when the run computes
  structural vectors (``[structure] dim`` S > 0): the nodes' FastRP vectors of the graph
  (:func:`distill.structure.fastrp`; the edge tables hold them).

Outputs: ``logit`` [N] and ``score`` [N] = sigmoid(logit), what
:meth:`distill.predict.Scorer.score_pairs` returns, and ``rank`` [N], the ranking logit
that ``kgdistill predict`` orders each customer's top K by (the pair logit plus the
model's rank head, :meth:`distill.models.PairDecoder.rank`): an edge top K sorts by it.

:func:`export_split` writes the same student split for serving one customer's top K
over the whole catalogue: :class:`ProductSide` (product inputs in, every product's
representation ``z_p`` out), run once per catalogue version, and :class:`CustomerSide`
(one or a few customers' inputs, ``z_p`` and their pair features in, ``rank``
[customers, products] out): per request the customer tower runs once, not once per
product, and the product tower not at all.

:func:`edge_tables` gathers, for every customer and product of a frame, those encoded
inputs and the history tables that give pair features, as numpy arrays (saved with
``numpy.savez_compressed``); docs/onnx.md scores pairs from them with numpy alone.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from distill.artifact import LoadedModel
from distill.data import PAIR_FEATURES
from distill.models import FeatureMLP, LinkPredictor
from distill.predict import Scorer

OPSET = 17


def id_inputs(loaded: LoadedModel) -> tuple[str, ...]:
    """The node types whose id rows are inputs (those with id embeddings)."""
    encoder = loaded.model.encoder
    assert isinstance(encoder, FeatureMLP)
    return tuple(t for t in FeatureMLP.node_types if encoder.encoders[t].ids is not None)


def input_names(loaded: LoadedModel) -> list[str]:
    ids = id_inputs(loaded)
    names = []
    for t in FeatureMLP.node_types:
        names += [f"{t}_num", f"{t}_cat"] + ([f"{t}_id"] if t in ids else [])
    names.append("pair")
    if loaded.model.decoder.struct_dim:
        names += [f"{t}_struct" for t in FeatureMLP.node_types]
    return names


def graph_free(loaded: LoadedModel) -> LinkPredictor:
    """``loaded``'s model, refused unless it scores from features alone."""
    if not loaded.model.graph_free:
        raise ValueError(
            f"{loaded.name} is a graph model: only the graph-free student (kind 'mlp') "
            "scores from features alone and exports to ONNX"
        )
    return loaded.model


def _encoder(loaded: LoadedModel) -> FeatureMLP:
    encoder = graph_free(loaded).encoder
    assert isinstance(encoder, FeatureMLP)
    return encoder


class ScoringFunction(nn.Module):
    """A graph-free :class:`~distill.models.LinkPredictor` as a function of encoded features.

    Shapes:
        customer_num [N, Fc], customer_cat [N, Cc], (customer_id [N]), product_num [N, Fp],
        product_cat [N, Cp], (product_id [N]), pair [N, F], (customer_struct [N, S],
        product_struct [N, S]) -> logit [N], score [N], rank [N]
    """

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.model = graph_free(loaded)
        self.ids = id_inputs(loaded)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        encoder = self.model.encoder
        assert isinstance(encoder, FeatureMLP)
        it = iter(inputs)
        parts = {}
        for t in FeatureMLP.node_types:
            x_num, x_cat = next(it), next(it)
            # without an id embedding the encoder reads no rows: an empty stand-in
            rows = next(it) if t in self.ids else torch.empty(0, dtype=torch.long)
            parts[t] = (x_num, x_cat, rows)
        pair = next(it)
        decoder = self.model.decoder
        z = {
            t: encoder.embed(t, *parts[t], None, next(it) if decoder.struct_dim else None)
            for t in FeatureMLP.node_types
        }
        logit = decoder(z["customer"], z["product"], pair)
        rank = logit
        (_, s_c), (z_p, s_p) = decoder.split(z["customer"]), decoder.split(z["product"])
        if decoder.prior is not None:  # PairDecoder.rank, without computing the logit twice
            rank = logit + decoder.prior(torch.cat([z_p, pair], dim=-1)).squeeze(-1)
        if s_c is not None and s_p is not None and decoder.rank_struct_scale is not None:
            # the ranking score's own weight of the cosine (the logit holds the pair's)
            extra = decoder.rank_struct_weight() - decoder.struct_weight  # type: ignore[operator]
            rank = rank + extra * (s_c * s_p).sum(-1)
        return logit, torch.sigmoid(logit), rank


def example_inputs(loaded: LoadedModel, n: int = 2) -> tuple[Tensor, ...]:
    enc = loaded.encoder
    out: list[Tensor] = []
    for t in FeatureMLP.node_types:
        out.append(torch.zeros(n, enc.num_dim(t)))
        out.append(torch.zeros(n, len(enc.cat_cardinalities(t)), dtype=torch.long))
        if t in id_inputs(loaded):
            out.append(torch.full((n,), -1, dtype=torch.long))
    out.append(torch.zeros(n, len(PAIR_FEATURES)))
    struct_dim = loaded.model.decoder.struct_dim
    out += [torch.zeros(n, struct_dim) for _ in FeatureMLP.node_types if struct_dim]
    return tuple(out)


def export_onnx(loaded: LoadedModel, path: str | Path) -> Path:
    """Write the ONNX model (opset :data:`OPSET`, batch size dynamic) to ``path``."""
    path = Path(path)
    function = ScoringFunction(loaded)  # refuses a graph model
    names = input_names(loaded)
    outputs = ["logit", "score", "rank"]
    _write(
        function,
        example_inputs(loaded),
        path,
        names,
        outputs,
        {name: {0: "pairs"} for name in names + outputs},
    )
    _describe(
        path,
        f"kgdistill {loaded.name}: inputs {', '.join(names)}; pair columns "
        f"{', '.join(PAIR_FEATURES)}; score = sigmoid(logit); rank orders a top K. "
        "See docs/onnx.md.",
    )
    return path


def _write(
    module: nn.Module,
    example: tuple[Tensor, ...],
    path: Path,
    names: list[str],
    outputs: list[str],
    axes: dict[str, dict[int, str]],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # torch's export-based ONNX exporter needs onnxscript, which kgdistill does not
        # ship; the TorchScript exporter is deprecated in torch 2.15 but complete for this
        # graph (embeddings, linear layers, elu), and the tests check its scores.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            module.eval(),
            example,
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _describe(path: Path, doc: str) -> None:
    """Set the model's ``doc_string`` and its ``pair_features`` metadata."""
    import onnx

    model = onnx.load(str(path))
    model.doc_string = doc
    entry = model.metadata_props.add()
    entry.key, entry.value = "pair_features", ",".join(PAIR_FEATURES)
    onnx.save(model, str(path))


def node_input_names(loaded: LoadedModel, node_type: str) -> list[str]:
    """One node type's inputs of :func:`input_names`, in order."""
    return [name for name in input_names(loaded) if name.startswith(f"{node_type}_")]


class ProductSide(nn.Module):
    """The product tower: every product's representation, from product features only,
    so a server computes it once per catalogue version (the first half of the split
    export, :func:`export_split`).

    Shapes:
        product_num [P, Fp], product_cat [P, Cp], (product_id [P]), (product_struct
        [P, S]) -> z_p [P, D (+ S)]
    """

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.encoder = _encoder(loaded)
        self.ids = "product" in id_inputs(loaded)
        self.struct = bool(loaded.model.decoder.struct_dim)

    def forward(self, *inputs: Tensor) -> Tensor:
        return _embed(self.encoder, "product", inputs, self.ids, self.struct)


def _embed(
    encoder: FeatureMLP, t: str, inputs: tuple[Tensor, ...], ids: bool, struct: bool
) -> Tensor:
    """One node type's representation from its inputs (num, cat, (id), (struct), ...)."""
    rows = inputs[2] if ids else torch.empty(0, dtype=torch.long)
    vectors = inputs[2 + ids] if struct else None
    return encoder.embed(t, inputs[0], inputs[1], rows, None, vectors)


class CustomerSide(nn.Module):
    """The ranking logit of ``B`` customers against the whole catalogue, given every
    product's representation (:class:`ProductSide`): the customer tower runs once per
    customer, the decoder once per (customer, product). The second half of the split
    export; ``rank[b, p]`` is :meth:`distill.models.PairDecoder.rank`.

    Shapes:
        customer_num [B, Fc], customer_cat [B, Cc], (customer_id [B]), (customer_struct
        [B, S]), z_p [P, D (+ S)], pair [B, P, F] -> rank [B, P]
    """

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__()
        self.encoder = _encoder(loaded)
        self.decoder = loaded.model.decoder
        self.ids = "customer" in id_inputs(loaded)
        self.struct = bool(loaded.model.decoder.struct_dim)

    def forward(self, *inputs: Tensor) -> Tensor:
        decoder = self.decoder
        z_c, s_c = decoder.split(_embed(self.encoder, "customer", inputs, self.ids, self.struct))
        full_p, pair = inputs[-2], inputs[-1]
        weight = decoder.rank_struct_weight()
        if decoder.kind == "dot":
            # one matrix product over the catalogue's rows as they come in: splitting
            # [P, D + S] into its parts would copy them on every request
            rank, towards = self._towards(z_c, s_c, pair)
            # [P, D + S] @ [D + S, B], transposed: onnxruntime's MatMul is slow with a
            # 1-D operand
            return rank + (full_p @ towards).T
        # MLP([z_c * z_p, z_c, z_p, f]): every pair in full
        z_p, s_p = decoder.split(full_p)
        size = (z_c.size(0), z_p.size(0), z_c.size(1))
        rank = decoder._logit(z_c[:, None].expand(size), z_p[None].expand(size), pair)
        if decoder.prior is not None:
            rank = rank + decoder.prior(torch.cat([z_p[None].expand(size), pair], -1)).squeeze(-1)
        if s_c is None or s_p is None or weight is None:
            return rank
        return rank + weight * (s_p @ s_c.T).T

    def _towards(self, z_c: Tensor, s_c: Tensor | None, pair: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`_dot` with the structural cosine's part of ``towards`` appended
        (``[D (+ S), B]``), what ``z_p``'s columns are multiplied by."""
        rank, towards = self._dot(z_c, pair)
        weight = self.decoder.rank_struct_weight()
        if s_c is not None and weight is not None:
            towards = torch.cat([towards, weight * s_c.T], dim=0)
        return rank, towards

    def _dot(self, z_c: Tensor, pair: Tensor) -> tuple[Tensor, Tensor]:
        """A ``dot`` decoder's ranking logit as ``(rank, towards)``: ``rank`` [B, P] the
        pair MLP and the prior's pair and bias terms, ``towards`` [D, B] what the
        products' representations are multiplied by (``z_c`` scaled as the decoder
        scales it, ``+`` the prior's weights of ``z_p``)."""
        decoder = self.decoder
        h = z_c.size(1) - decoder.collab_dim
        scale = torch.full_like(z_c[0], 1.0 / h**0.5)
        if decoder.mf_weight is not None:
            scale = torch.cat([scale[:h], decoder.mf_weight.expand(decoder.collab_dim)])
        towards, rank = (z_c * scale).T, decoder.mlp(pair).squeeze(-1)
        if decoder.prior is not None:  # prior([z_p, f]) = w_z . z_p + w_f . f + b, no concat
            w = decoder.prior.weight.T
            rank = rank + (pair @ w[z_c.size(1) :]).squeeze(-1) + decoder.prior.bias
            towards = towards + w[: z_c.size(1)]
        return rank, towards


class CatalogueSide(CustomerSide):
    """:class:`CustomerSide` with one catalogue's product representations built in (a
    constant, so onnxruntime lays it out for its matrix product once, when the session
    loads): a customer's inputs and pair features in, its ``rank`` of every product of
    that catalogue out. Written again when the catalogue changes (:func:`export_catalogue`).

    Shapes:
        customer_num [B, Fc], customer_cat [B, Cc], (customer_id [B]), (customer_struct
        [B, S]), pair [B, P, F] -> rank [B, P]
    """

    catalogue: Tensor  # z_p [P, D (+ S)]; a dot decoder's transposed, [D (+ S), P]

    def __init__(self, loaded: LoadedModel, z_p: Tensor) -> None:
        super().__init__(loaded)
        dot = self.decoder.kind == "dot"  # then the matrix product's second operand
        self.register_buffer("catalogue", (z_p.T if dot else z_p).detach().contiguous())

    def forward(self, *inputs: Tensor) -> Tensor:
        *customer, pair = inputs
        if self.decoder.kind != "dot":
            return super().forward(*customer, self.catalogue, pair)
        z_c, s_c = self.decoder.split(
            _embed(self.encoder, "customer", tuple(customer), self.ids, self.struct)
        )
        rank, towards = self._towards(z_c, s_c, pair)
        return rank + towards.T @ self.catalogue


# protobuf's 2 GB limit on one ONNX file, with room for the rest of the model
CATALOGUE_BYTES = 1_800_000_000


def catalogue_path(path: str | Path) -> Path:
    """Where :func:`export_catalogue` writes beside ``path``: ``<stem>.catalogue.onnx``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.catalogue.onnx")


def export_catalogue(
    loaded: LoadedModel, path: str | Path, products: dict[str, np.ndarray]
) -> Path:
    """Write :class:`CatalogueSide` for the catalogue whose product inputs are
    ``products`` (:func:`node_input_names` of ``product``, e.g. :func:`edge_tables`'
    columns) to :func:`catalogue_path` of ``path``: :class:`ProductSide` runs here, once,
    and its output is stored in the file. Per request it takes what
    ``STEM.customer.onnx`` takes but ``z_p``. Refuses a catalogue whose representations
    pass :data:`CATALOGUE_BYTES` (serve it with :func:`export_split`)."""
    out = catalogue_path(path)
    names = node_input_names(loaded, "product")
    missing = [name for name in names if name not in products]
    if missing:
        raise ValueError(f"the catalogue's product inputs lack {', '.join(missing)}")
    with torch.no_grad():
        z_p = ProductSide(loaded).eval()(*(torch.as_tensor(products[n]) for n in names))
    if z_p.numel() * z_p.element_size() > CATALOGUE_BYTES:
        raise ValueError(
            f"{z_p.size(0):,} products x {z_p.size(1)} columns do not fit one ONNX file "
            f"(2 GB); serve them with the split model (STEM.products.onnx, STEM.customer.onnx)"
        )
    example = dict(zip(input_names(loaded), example_inputs(loaded, n=2), strict=True))
    customer_names = node_input_names(loaded, "customer")
    pair = torch.zeros(2, z_p.size(0), len(PAIR_FEATURES))
    axes = {name: {0: "customers"} for name in customer_names}
    axes |= {"pair": {0: "customers"}, "rank": {0: "customers"}}
    names = [*customer_names, "pair"]
    _write(
        CatalogueSide(loaded, z_p),
        (*(example[name] for name in customer_names), pair),
        out,
        names,
        ["rank"],
        axes,
    )
    _describe(
        out,
        f"kgdistill {loaded.name}: rank [customers, {z_p.size(0)} products of the catalogue "
        f"it was written with] from {', '.join(names)}; pair columns "
        f"{', '.join(PAIR_FEATURES)}. See docs/onnx.md.",
    )
    return out


def split_paths(path: str | Path) -> tuple[Path, Path]:
    """Where :func:`export_split` writes beside ``path``: ``<stem>.products.onnx`` and
    ``<stem>.customer.onnx``."""
    path = Path(path)
    stem = path.name.removesuffix(".onnx")
    return path.with_name(f"{stem}.products.onnx"), path.with_name(f"{stem}.customer.onnx")


def export_split(loaded: LoadedModel, path: str | Path) -> tuple[Path, Path]:
    """Write the graph-free student split for serving top K (:func:`split_paths` of
    ``path``): :class:`ProductSide` (product inputs in, ``z_p`` out; run once per
    catalogue) and :class:`CustomerSide` (customer inputs, ``z_p`` and pair features
    in, ``rank`` out). Opset :data:`OPSET`; customers and products dynamic."""
    products_path, customer_path = split_paths(path)
    products = ProductSide(loaded)  # refuses a graph model
    example = dict(zip(input_names(loaded), example_inputs(loaded, n=3), strict=True))
    product_names = node_input_names(loaded, "product")
    product_example = tuple(example[name] for name in product_names)
    axes = {name: {0: "products"} for name in [*product_names, "z_p"]}
    _write(products, product_example, products_path, product_names, ["z_p"], axes)
    with torch.no_grad():
        z_p = products.eval()(*product_example)
    customer_names = node_input_names(loaded, "customer")
    pair = torch.zeros(2, len(z_p), len(PAIR_FEATURES))
    customer_example = (*(example[name][:2] for name in customer_names), z_p, pair)
    names = [*customer_names, "z_p", "pair"]
    axes = {name: {0: "customers"} for name in customer_names}
    axes |= {"z_p": {0: "products"}, "pair": {0: "customers", 1: "products"}}
    axes["rank"] = {0: "customers", 1: "products"}
    _write(CustomerSide(loaded), customer_example, customer_path, names, ["rank"], axes)
    _describe(products_path, f"kgdistill {loaded.name}: product tower; see docs/onnx.md.")
    _describe(
        customer_path,
        f"kgdistill {loaded.name}: rank [customers, products] from {', '.join(names)}; "
        f"pair columns {', '.join(PAIR_FEATURES)}. See docs/onnx.md.",
    )
    return products_path, customer_path


def edge_tables(scorer: Scorer) -> dict[str, np.ndarray]:
    """What the ONNX model needs to score any pair of ``scorer``'s frame, as numpy arrays.

    ``customer_ids`` / ``product_ids`` (str), ``customer_num``, ``customer_cat``,
    ``customer_id`` (-1: no id embedding applies), ``customer_struct`` (with structural
    vectors) and the same for products, then the
    history lookups of :meth:`distill.data.History.pair_features`: ``pair_keys`` (sorted
    ``customer_row * num_products + product_row``), ``pair_values`` and the per-customer,
    per-product and per-category tables (log1p already applied), ``product_category``,
    ``product_brand`` and ``num_products``.
    """
    graph, history = scorer.graph, scorer.history
    out: dict[str, np.ndarray] = {
        "customer_ids": np.array([str(v) for v in scorer.customer_index]),
        "product_ids": np.array([str(v) for v in scorer.product_index]),
    }
    for t in FeatureMLP.node_types:
        store = graph[t]
        out[f"{t}_num"] = store.x_num.numpy()
        out[f"{t}_cat"] = store.x_cat.numpy()
        rows = store.id_row.numpy().astype(np.int64)
        out[f"{t}_id"] = np.where(store.seen.numpy(), rows, -1)
        if "struct" in store:
            out[f"{t}_struct"] = store.struct.float().numpy()
    out["pair_keys"] = np.asarray(history.pair_keys, np.int64)
    out.update(history.lookup_tables())
    out["product_category"] = np.asarray(history.product_category, np.int64)
    out["product_brand"] = np.asarray(history.product_brand, np.int64)
    out["num_products"] = np.array(history.num_products, np.int64)
    return out


def onnx_feed(
    scorer: Scorer, tables: dict[str, np.ndarray], customers: np.ndarray, products: np.ndarray
) -> dict[str, np.ndarray]:
    """The exported model's inputs (:func:`input_names`, in order) for the pairs
    ``(customers[i], products[i])`` of ``scorer``'s rows, read from ``tables``
    (:func:`edge_tables`) as an edge device would."""
    rows = {"customer": customers, "product": products}
    feed = {}
    for name in input_names(scorer.loaded):
        if name == "pair":
            feed[name] = scorer.history.pair_features(customers, products).numpy()
        else:
            feed[name] = tables[name][rows[name.split("_")[0]]]
    return feed


def save_edge_tables(scorer: Scorer, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = edge_tables(scorer)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **tables)
    return path
