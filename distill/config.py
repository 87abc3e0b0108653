"""Configuration of everything that learns: frozen, typed dataclasses with working defaults.

The application builds these from TOML, environment and flags; here they are
plain values. The defaults are the ones ``bench/train_ecomm.py`` measures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from kgframe import INTERACTION_TYPES


def _one_of(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} = {value!r}; choose one of {', '.join(map(repr, options))}")


def _at_least(name: str, value: float, low: float) -> None:
    if not value >= low:
        raise ValueError(f"{name} = {value!r}; must be at least {low}")


@dataclass(frozen=True)
class ModelConfig:
    """One model to train, the teacher or a student: its architecture and optimiser.

    The encoder's kind is :attr:`encoder` (``kind`` in a student's section, ``conv`` in
    the teacher's, the names their TOML sections and saved runs use).
    ``customer_id_dim`` / ``product_id_dim``: learnable id embeddings for nodes that
    have interactions in the training graph (0 turns them off); equal and non-zero,
    they also enter the decoder as a matrix-factorisation term (``collab``).
    ``ids_in_encoder``: the id embeddings also enter the encoder's input (through a
    linear map, beside the features); false keeps them to the decoder's
    matrix-factorisation term when there is one (``collab``), so the encoder learns
    from features and structure alone (without ``collab`` they enter the encoder
    either way: nothing else would read them).
    ``mf_dropout``: the share of training pairs scored without the matrix-factorisation
    term (each pair on its own; scoring always keeps it), so that the rest of the score
    learns to rank without it; 0 by default (``bench/teacher_ids.py --mf-dropout``, EComm
    teacher, three seeds: AUC unchanged, Recall@20 up by 0.005 at 0.8; its students not
    measured yet).
    ``id_fit_structure``: the id embeddings' matrix factorisation adds each pair's
    structural cosine to its logit (:func:`distill.train.pretrain_ids`), so the ids
    learn what the structural vectors miss; needs ``collab`` and ``structure``. Off by
    default: on EComm it lifted the distilled student's Recall@20, on the interaction-
    only shops it did not lift the distilled student above its twin and it doubled the
    default student's training time on the 652,514-interaction one
    (``bench/id_fit_structure.py``; README, "The id fit told the structure").
    ``struct_in_encoder`` (the graph-free student only): the structural vectors also
    enter the MLP's input, through a learnt linear map, so the student learns from each
    node's sketch of its neighbourhood, not only from their fixed cosine.
    ``decoder``: ``dot`` (inner product plus a small MLP on pair features) or ``mlp``
    (an MLP on the pair). ``structure``: score with the run's structural vectors (the
    cosine term of :class:`distill.models.PairDecoder`) when :class:`StructureConfig`
    computes them. The defaults are a student's.
    """

    hidden: int = 32
    heads: int = 2
    layers: int = 2
    dropout: float = 0.1
    customer_id_dim: int = 16
    product_id_dim: int = 0
    decoder: str = "dot"
    pair_hidden: int = 16
    lr: float = 0.01
    weight_decay: float = 0.0
    epochs: int = 80
    structure: bool = True
    ids_in_encoder: bool = True
    mf_dropout: float = 0.0
    id_fit_structure: bool = False
    struct_in_encoder: bool = False
    # which weights training keeps: those of the best validation "auc", "recall"
    # (Recall@20 over the whole catalogue), or "auto" (recall where the validation split
    # has 1,000 customers with a positive or more, AUC below: distill.train.selection)
    select: str = "auc"

    KINDS: ClassVar[tuple[str, ...]] = ()
    KIND_KEY: ClassVar[str] = "kind"

    @property
    def encoder(self) -> str:
        """The encoder's kind: a convolution of :data:`distill.models.CONVS` or ``mlp``."""
        value: str = getattr(self, self.KIND_KEY)
        return value

    def __post_init__(self) -> None:
        _one_of(self.KIND_KEY, self.encoder, self.KINDS)
        for key in ("hidden", "heads", "layers", "epochs", "pair_hidden"):
            _at_least(key, getattr(self, key), 1)
        for key in ("customer_id_dim", "product_id_dim", "weight_decay"):
            _at_least(key, getattr(self, key), 0)
        for key in ("dropout", "mf_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"{key} = {getattr(self, key)!r}; must be in [0, 1)")
        if not self.lr > 0:
            raise ValueError(f"lr = {self.lr!r}; must be > 0")
        _one_of("decoder", self.decoder, ("dot", "mlp"))
        _one_of("select", self.select, ("auc", "recall", "auto"))
        if self.struct_in_encoder and self.encoder != "mlp":
            raise ValueError(
                f"struct_in_encoder = true is for the graph-free student (kind 'mlp'), "
                f"not {self.encoder!r}"
            )

    def spec(self) -> dict[str, Any]:
        """The model's spec, as artifacts store it (:func:`distill.artifact.build_model`
        takes it)."""
        return {
            "kind": self.encoder,
            "hidden": self.hidden,
            "heads": self.heads,
            "layers": self.layers,
            "dropout": self.dropout,
            "customer_id_dim": self.customer_id_dim,
            "product_id_dim": self.product_id_dim,
            "decoder": self.decoder,
            "pair_hidden": self.pair_hidden,
            "rank_head": True,
            "collab": self.customer_id_dim == self.product_id_dim > 0,
            "structure": self.structure,
            # the structural cosine's weight in the ranking score, set on the validation
            # ranking after training (distill.train.calibrate_rank_structure)
            "rank_scale": True,
            "ids_in_encoder": self.ids_in_encoder
            or not self.customer_id_dim == self.product_id_dim > 0,
            "mf_dropout": self.mf_dropout,
            "struct_in_encoder": self.struct_in_encoder,
        }

    def as_dict(self) -> dict[str, Any]:
        """The section as reports record it: the encoder's key first, then the rest."""
        rest = {k: v for k, v in asdict(self).items() if k != self.KIND_KEY}
        return {self.KIND_KEY: self.encoder, **rest}


@dataclass(frozen=True)
class TeacherConfig(ModelConfig):
    """The ``[teacher]`` section: the large graph model. ``conv``: ``gat`` | ``gatv2`` |
    ``sage`` | ``graphconv`` (per-relation convolutions combined by PyG's ``HeteroConv``)."""

    KINDS: ClassVar[tuple[str, ...]] = ("gat", "gatv2", "sage", "graphconv")
    KIND_KEY: ClassVar[str] = "conv"

    conv: str = "gat"
    # 96 wide (4 heads of 24): more accurate on EComm than 64 (test AUC 0.824 vs 0.818,
    # seed 0) and 128 (0.812, twice the training time); see bench/results/ecomm.md
    hidden: int = 96
    heads: int = 4
    dropout: float = 0.2
    # 64-wide id embeddings: the matrix factorisation of who bought what; the default
    # student's 6 keep it 12x smaller
    customer_id_dim: int = 64
    product_id_dim: int = 64
    # the ids reach the decoder's matrix-factorisation term only: fed to the GAT as
    # well, the teacher's EComm test AUC was 0.796 (0.814 without) and the
    # interaction-only shop's Recall@20 0.313 (0.333); bench/quality.py, three seeds
    # (README: "Both kinds of shop")
    ids_in_encoder: bool = False
    pair_hidden: int = 32
    lr: float = 0.005
    # 80: at 40 the EComm teacher's validation AUC was still rising (best epochs 38-40);
    # at 80 its best epochs were 70-80 and test AUC 0.8232 / AP 0.8452 over seeds 0-2
    # (0.8077 / 0.8326 at 40; bench/teacher_ids.py). Early stopping ends it sooner where
    # its validation figure has peaked (README: "Distillation on EComm")
    epochs: int = 80
    # on the 652,514-interaction interaction-only shop the teacher's validation AUC rose
    # to epoch 62 while its validation Recall@20 peaked near 30 (0.27) and fell (0.24 at
    # 80); kept by the ranking it found test Recall@20 0.2583, by AUC 0.2343
    # (bench/teacher_select.py; README: "The teacher kept by its ranking"): "auto" keeps
    # its weights by the ranking where the validation customers are enough to measure
    # one; EComm's 275 keep AUC
    select: str = "auto"


@dataclass(frozen=True)
class StudentConfig(ModelConfig):
    """A ``[student_*]`` section: one small student. ``kind``: ``gat`` | ``sage`` | ``mlp``
    (graph-free, GLNN style). Products' id embeddings default off, so the MLP scores
    from features alone."""

    KINDS: ClassVar[tuple[str, ...]] = ("gat", "sage", "mlp")

    kind: str = "mlp"


STUDENTS: dict[str, StudentConfig] = {
    "student_gat": StudentConfig(kind="gat", customer_id_dim=0, lr=0.02, epochs=40),
    "student_sage": StudentConfig(kind="sage", customer_id_dim=0, lr=0.02, epochs=40),
    "student_mlp": StudentConfig(kind="mlp", hidden=24, customer_id_dim=6, product_id_dim=6),
}
"""Registry: the configurable students (a ``[student_*]`` section and a field of
:class:`RunConfig` each) and their defaults."""
STUDENT_NAMES: tuple[str, ...] = tuple(STUDENTS)


@dataclass(frozen=True)
class KDConfig:
    """``L = L_hard + alpha * T^2 * KL(P_teacher^T || P_student^T)``.

    ``hard_label``: ``ground_truth`` or ``teacher`` (the teacher's argmax).
    ``candidates_per_pair``: unlabelled candidate pairs, per labelled pair, that the
    teacher scores so the student learns from more soft targets than there are labels.
    ``candidate_sampling``: ``mixed`` (half uniform products, half popularity-sampled),
    ``uniform`` or ``popularity``. ``listwise_weight``: weight of the listwise term
    ``T^2 * KL(softmax(t_i / T) || softmax(s_i / T))`` over each customer's in-batch
    candidate list (the teacher's ranking, :func:`distill.ranking.listwise_kd`); 0 off.
    ``shortlist``: the teacher's top products (over the whole catalogue, seen ones
    left out) that join each customer's candidate list in that term, so the head of
    the teacher's ranking is what the student learns to reproduce; 0 off.
    ``id_shortlist``: the teacher's top products per customer (seen ones left out) that
    join the interactions a student's id embeddings are fitted to (their matrix
    factorisation before training and again on the graph it scores on), so the part of
    the student that carries who-bought-what learns from the teacher too; 0 off.
    """

    alpha: float = 1.0
    temperature: float = 2.0
    hard_label: str = "ground_truth"
    candidates_per_pair: float = 4.0
    candidate_sampling: str = "mixed"
    listwise_weight: float = 1.0
    shortlist: int = 0
    id_shortlist: int = 0

    def __post_init__(self) -> None:
        _at_least("alpha", self.alpha, 0.0)
        _at_least("listwise_weight", self.listwise_weight, 0.0)
        _at_least("shortlist", self.shortlist, 0)
        _at_least("id_shortlist", self.id_shortlist, 0)
        if not self.temperature > 0:
            raise ValueError(f"temperature = {self.temperature!r}; must be > 0")
        _one_of("hard_label", self.hard_label, ("ground_truth", "teacher"))
        _at_least("candidates_per_pair", self.candidates_per_pair, 0.0)
        _one_of("candidate_sampling", self.candidate_sampling, ("mixed", "uniform", "popularity"))


@dataclass(frozen=True)
class StructureConfig:
    """The ``[structure]`` section: FastRP vectors of every customer and product
    (:func:`distill.structure.fastrp`), computed from each graph a model sees (training
    snapshots, the graph it is bound to at predict time). ``dim`` 0 turns them off;
    ``weights``: one per hop, how much each counts; ``seed``: the random projection's;
    ``normalization``: each node's random vector scaled by its degree to this power
    (GDS's ``normalizationStrength``; below 0 popular nodes count less).
    """

    # chosen on EComm's validation split by the cosine's Recall@20 over the grid GDS is
    # given (bench/fastrp_choice.py); 1,024 columns: a 512-wide projection's noise costs
    # a fifth of it
    dim: int = 1024
    weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    seed: int = 0
    normalization: float = -0.5

    def __post_init__(self) -> None:
        _at_least("dim", self.dim, 0)
        if self.dim and not self.weights:
            raise ValueError("weights is empty; give one weight per hop")

    def encoder_settings(self) -> dict[str, Any]:
        """What :class:`distill.data.FeatureEncoder` stores (empty: off)."""
        if not self.dim:
            return {}
        return {
            "dim": self.dim,
            "weights": [float(w) for w in self.weights],
            "seed": self.seed,
            "normalization": float(self.normalization),
        }


@dataclass(frozen=True)
class TaskConfig:
    """Link prediction "customer will interact with product" on temporal snapshots.

    Each snapshot uses interactions before a target day as the graph and the
    (customer, product) pairs of that day as positives; ``snapshots`` counts the
    target days, ending with the last day of the frame. ``negatives``: ``popularity``
    (products drawn as often as they occur among the target day's positives, which is
    how the EComm test negatives are drawn) or ``uniform``.
    """

    target_types: tuple[str, ...] = INTERACTION_TYPES
    snapshots: int = 2
    negatives: str = "popularity"
    negatives_per_positive: int = 1

    def __post_init__(self) -> None:
        if not self.target_types:
            raise ValueError("target_types is empty; name at least one interaction type")
        _at_least("snapshots", self.snapshots, 1)
        _one_of("negatives", self.negatives, ("popularity", "uniform"))
        _at_least("negatives_per_positive", self.negatives_per_positive, 1)


@dataclass(frozen=True)
class TrainConfig:
    """The loop: full batch, early stopping on a validation set, seeded.

    ``rank_loss``: the ranking objective beside the pair loss (:mod:`distill.ranking`):
    ``softmax`` (sampled softmax with in-batch negatives), ``bpr``, or ``none``.
    ``rank_weight`` weighs it on each target day's positives, ``history_weight`` on
    the training graph's own interactions (what gives id embeddings the collaborative
    signal); ``rank_batch`` positives per grid. ``pretrain_epochs`` passes of matrix
    factorisation over the earliest training graph's interactions, in mini-batches of
    ``pretrain_batch`` at ``pretrain_lr``, set the id embeddings of models whose
    customers and products have id embeddings of one width before the full-batch loop
    (:func:`distill.train.pretrain_ids`); 0 skips it. ``pretrain_adam``: ``dense``
    (every row every step; a step costs both whole tables, so the fit grows with
    interactions times customers), ``rows`` (Adam moves only the rows a batch
    touched: a step costs the batch, not the tables; for large shops), or ``auto``:
    ``rows`` once the two id tables hold ``pretrain_rows_above`` rows or more
    (customers plus products), else ``dense``. ``freeze_ids``
    keeps them fixed in the full-batch loop; ``refresh_epochs`` passes fit them again
    on the graph the model scores on once the loop is done (0: not).

    ``minibatch``: how link prediction's loop steps: ``off`` (full batch: one step per
    epoch over the whole graph), ``on`` (mini-batches of ``batch_size`` pairs, each
    embedded from the subgraph that neighbour sampling draws around its customers and
    products, ``fanouts[i]`` edges per node and relation at hop ``i``, the last one
    repeated for deeper models; :mod:`distill.sampling`), or ``auto``: mini-batches
    once the largest training graph holds ``minibatch_above`` interactions or more.
    Validation and scoring stay full batch.
    """

    seed: int = 0
    patience: int = 20
    eval_every: int = 2
    # 1 thread: on a shared, oversubscribed 2-core machine two OpenMP threads ran the
    # teacher 10-15x slower (spinning on each other) than one did.
    threads: int = 1
    progress: bool = True
    rank_loss: str = "softmax"
    rank_weight: float = 1.0
    history_weight: float = 1.0
    rank_batch: int = 512
    pretrain_epochs: int = 20
    pretrain_batch: int = 1024
    pretrain_lr: float = 0.01
    # "auto": dense below pretrain_rows_above, where with "rows" the EComm e2e run's
    # distilled student fell below its twin on AUC (0.8125 against 0.8137, three
    # seeds); rows above it, where a dense pass grows with interactions x customers
    # (5.4x the time of rows at 250,000 rows; README "The id tables' fit at shop scale")
    pretrain_adam: str = "auto"
    pretrain_rows_above: int = 100_000
    freeze_ids: bool = True
    refresh_epochs: int = 10
    minibatch: str = "auto"
    minibatch_above: int = 500_000
    fanouts: tuple[int, ...] = (15, 10)
    batch_size: int = 4096

    def __post_init__(self) -> None:
        for key in ("patience", "eval_every", "threads"):
            _at_least(key, getattr(self, key), 1)
        _one_of("rank_loss", self.rank_loss, ("softmax", "bpr", "none"))
        for key in ("rank_weight", "history_weight"):
            _at_least(key, getattr(self, key), 0.0)
        _at_least("rank_batch", self.rank_batch, 2)
        _at_least("pretrain_epochs", self.pretrain_epochs, 0)
        _at_least("refresh_epochs", self.refresh_epochs, 0)
        _at_least("pretrain_batch", self.pretrain_batch, 2)
        if not self.pretrain_lr > 0:
            raise ValueError(f"pretrain_lr = {self.pretrain_lr!r}; must be > 0")
        _one_of("pretrain_adam", self.pretrain_adam, ("auto", "rows", "dense"))
        _at_least("pretrain_rows_above", self.pretrain_rows_above, 0)
        _one_of("minibatch", self.minibatch, ("auto", "on", "off"))
        _at_least("minibatch_above", self.minibatch_above, 0)
        _at_least("batch_size", self.batch_size, 1)
        if not self.fanouts or min(self.fanouts) < 1:
            raise ValueError(f"fanouts = {list(self.fanouts)!r}; give at least one, each >= 1")

    def use_minibatch(self, interactions: int) -> bool:
        """Whether a graph of ``interactions`` trains in mini-batches (see ``minibatch``)."""
        if self.minibatch == "auto":
            return interactions >= self.minibatch_above
        return self.minibatch == "on"

    def rows_adam(self, rows: int) -> bool:
        """Whether an id fit over tables of ``rows`` rows in all (customers plus
        products) steps Adam on the touched rows only (see ``pretrain_adam``)."""
        if self.pretrain_adam == "auto":
            return rows >= self.pretrain_rows_above
        return self.pretrain_adam == "rows"


@dataclass(frozen=True)
class EvalConfig:
    """The comparison run by :func:`distill.evaluate.evaluate_link_prediction`.

    ``students``: the default student alone (with its no-distillation twin) unless more
    are named (``kgdistill train --all-students`` names all three). Ranking metrics
    leave out what ``predict`` leaves out (``exclude_seen``: products the customer
    interacted with in training) and rank every customer with a test positive, or a
    seeded sample of ``rank_customers`` of them when there are more.

    ``seeds``: each student and its twin train once per seed; the report shows their
    mean and the run saves, of each student, the seed with the best validation AUC.
    One by default: ``predict`` writes one student, and three seeds cost a default
    ``train`` on a 650,000-interaction shop 22 minutes instead of 16 (issue 11 asks
    for 20); ``make demo`` and ``bench/quality.py`` compare three.
    """

    seeds: tuple[int, ...] = (0,)
    students: tuple[str, ...] = ("student_mlp",)
    default_student: str = "student_mlp"
    k: int = 20
    exclude_seen: bool = True
    test_split: int = 2
    val_split: int = 1
    latency_pairs: int = 100_000
    latency_runs: int = 5
    rank_customers: int = 5000  # customers ranked over all products (a sample); 0: every one

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed")
        for name in self.students:
            _one_of("students", name, STUDENT_NAMES)
        if self.default_student not in self.students:
            raise ValueError(
                f"default_student = {self.default_student!r} is not among students "
                f"{list(self.students)}"
            )
        for key in ("k", "latency_pairs", "latency_runs"):
            _at_least(key, getattr(self, key), 1)
        _at_least("rank_customers", self.rank_customers, 0)
        if self.test_split == self.val_split:
            raise ValueError("test_split and val_split must differ")


@dataclass(frozen=True)
class RunConfig:
    """Everything one evaluation needs, nested."""

    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student_gat: StudentConfig = STUDENTS["student_gat"]
    student_sage: StudentConfig = STUDENTS["student_sage"]
    student_mlp: StudentConfig = STUDENTS["student_mlp"]
    kd: KDConfig = field(default_factory=KDConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), as reports record the configuration."""
        plain: dict[str, Any] = json.loads(json.dumps(asdict(self), default=list))
        for name in ("teacher", *STUDENT_NAMES):
            plain[name] = getattr(self, name).as_dict()
        return plain

    def student(self, name: str) -> StudentConfig:
        if name not in STUDENT_NAMES:
            raise KeyError(f"no student config named {name!r}")
        config: StudentConfig = getattr(self, name)
        return config


@dataclass(frozen=True)
class IndexOptions:
    """How :class:`distill.predict.ProductIndex` searches (``[predict] index_probes``,
    ``index_candidates``): ``probes``, the index's lists searched per customer (at least
    as many as hold three times the products asked for); ``candidates``, the products
    it returns per customer for the cheap score (0: four times the shortlist)."""

    probes: int = 32
    candidates: int = 0

    def __post_init__(self) -> None:
        if self.probes < 1:
            raise ValueError(f"index_probes must be >= 1, not {self.probes}")
        if self.candidates < 0:
            raise ValueError(
                f"index_candidates must be >= 0 (0: 4 x the shortlist), not {self.candidates}"
            )
