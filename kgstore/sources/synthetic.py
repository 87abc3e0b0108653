"""A seeded, believable shop at any size: for tests and for scale benchmarks.

Structure mirrors EComm: leaf categories (level 2) under one top category
(level 1, id 33), a few dozen brands that cover a small share of products (the
rest have no brand, like EComm's brand 0), customers with EComm's feature
columns, and interactions of the four types in EComm's proportions over a
window of days. What makes it believable rather than uniform noise:

- product popularity follows a power law (a few products draw most interactions);
- category sizes are skewed, and each category has its own price level, with
  budget/mid/premium tiers inside it;
- each customer is drawn to 1-3 categories and spends most interactions there;
- customer activity is heavy-tailed too.

A second kind of shop, :func:`generate_cf`, has ids and interactions only (no
categories, brands, prices or customer features, like a shop that exports only who
bought what), drawn from latent customer and product factors whose true scores
(:func:`cf_factors`) are the best ranking any model can reach.

The same arguments and seed always give the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from kgstore.sources.plan import LoadPlan

TOP_CATEGORY = 33
LEAF_BASE = 50_000_000
BRAND_BASE = 100_000
TYPES = np.array(["CLICKED", "FAVORITED", "ADDED_TO_CART", "BOUGHT"], dtype=object)
TYPE_SHARES = np.array([57_917, 5_529, 15_066, 6_701], dtype=float)  # EComm's counts
PRODUCTS_PER_CATEGORY = 90  # EComm: 36,224 products over 401 leaves
MAX_CATEGORIES = 401
BRANDED_SHARE = 0.02  # EComm: 98% of products have brand 0 (unknown)
AFFINITY = 0.8  # share of a customer's interactions inside their favourite categories

# The interaction-only shop (generate_cf): tuned so that popularity is a meaningful
# baseline, item-kNN clearly beats it, and the true scores clearly beat item-kNN
# (bench/synthetic_cf.py prints the three).
CF_DIM = 16  # latent factor dimension
CF_TASTE = 2.0  # variance of u_c . v_p: how much customers differ
CF_BIAS = 0.6  # b_p = -CF_BIAS * log(popularity rank of p), centred
CF_TAU = 0.5  # softmax temperature: lower, each customer's choices are more predictable


@dataclass(frozen=True)
class _Catalogue:
    """Products and their hidden structure: category, popularity, price, brand."""

    n_cat: int
    product_cat: np.ndarray  # [P] category index
    popularity: np.ndarray  # [P] power-law weights
    price: np.ndarray  # [P]
    branded: np.ndarray  # [P] bool
    brand_of_cat: np.ndarray  # [n_cat] brand index

    @property
    def used_cats(self) -> np.ndarray:
        return np.unique(self.product_cat)


def _check_sizes(customers: int, products: int, interactions: int, days: int) -> None:
    if customers < 1 or products < 1 or interactions < 0 or days < 1:
        raise ValueError("customers and products must be >= 1, interactions >= 0, days >= 1")


def generate(
    customers: int,
    products: int,
    interactions: int,
    seed: int = 0,
    *,
    days: int = 10,
    first_day: date = date(2019, 6, 10),
) -> LoadPlan:
    """A LoadPlan of ``customers`` x ``products`` with about ``interactions`` source rows.

    ``interactions`` source rows become fewer relationships after aggregation by
    (customer, product, type, day), as in real logs.
    """
    _check_sizes(customers, products, interactions, days)
    rng = np.random.default_rng(seed)
    plan = LoadPlan(
        source=f"synthetic (customers={customers}, products={products}, "
        f"interactions={interactions}, seed={seed})"
    )
    catalogue = _catalogue(rng, products)
    _add_catalogue(plan, catalogue)
    _add_customers(plan, rng, customers)

    # Interactions: who (heavy-tailed activity), then which product, type, day.
    activity = rng.pareto(1.5, customers) + 1.0
    cat_weight = np.bincount(
        catalogue.product_cat, weights=catalogue.popularity, minlength=catalogue.n_cat
    )
    favourites = rng.choice(catalogue.n_cat, size=(customers, 3), p=cat_weight / cat_weight.sum())
    n_favourites = rng.integers(1, 4, customers)
    who = rng.choice(customers, size=interactions, p=activity / activity.sum())
    what = _sample_products(rng, catalogue, who, favourites, n_favourites)
    kind, offset = _types_and_days(rng, interactions, days)
    plan.interactions = _aggregate(who, what, kind, offset, products, _day_numbers(first_day, days))
    plan.rows_read = customers + products + interactions
    return plan


def _catalogue(rng: np.random.Generator, products: int) -> _Catalogue:
    """Skewed categories with a price level each; power-law popularity, price tiers and a
    few brands tied to categories."""
    n_cat = int(np.clip(products // PRODUCTS_PER_CATEGORY, 1, MAX_CATEGORIES))
    cat_size = rng.zipf(1.6, n_cat).astype(float) + 5.0
    product_cat = rng.choice(n_cat, size=products, p=cat_size / cat_size.sum())
    cat_price = np.exp(rng.normal(4.0, 1.0, n_cat))
    popularity = rng.permutation(np.arange(1, products + 1, dtype=float) ** -0.9)
    tier = rng.choice([0.5, 1.0, 2.5], size=products, p=[0.5, 0.35, 0.15])
    price = np.round(cat_price[product_cat] * tier * np.exp(rng.normal(0, 0.25, products)), 2)
    n_brand = max(1, n_cat // 6)
    brand_of_cat = rng.integers(0, n_brand, n_cat)
    branded = rng.random(products) < BRANDED_SHARE
    return _Catalogue(
        n_cat=n_cat,
        product_cat=product_cat,
        popularity=popularity,
        price=np.maximum(price, 0.01),
        branded=branded,
        brand_of_cat=brand_of_cat,
    )


def _add_catalogue(plan: LoadPlan, catalogue: _Catalogue) -> None:
    """Category tree (one top, the used leaves), products with price, category and brand."""
    product_cat = catalogue.product_cat
    plan.categories.append({"id": TOP_CATEGORY, "props": {"level": 1}})
    for c in catalogue.used_cats.tolist():
        plan.categories.append({"id": LEAF_BASE + c, "props": {"level": 2}})
        plan.subcategories.append({"id": LEAF_BASE + c, "parent": TOP_CATEGORY})
    for i, (c, p) in enumerate(zip(product_cat.tolist(), catalogue.price.tolist(), strict=True)):
        pid = i + 1
        plan.products.append({"id": pid, "props": {"price": p}})
        plan.product_categories.append({"id": pid, "category": LEAF_BASE + c})
    for i in np.flatnonzero(catalogue.branded).tolist():
        brand = BRAND_BASE + int(catalogue.brand_of_cat[product_cat[i]])
        plan.product_brands.append({"id": i + 1, "brand": brand})


def _add_customers(plan: LoadPlan, rng: np.random.Generator, customers: int) -> None:
    """Customers with EComm's feature columns."""
    gender = rng.integers(0, 2, customers)
    age = rng.integers(0, 10, customers)
    education = rng.choice([-1, 1, 2, 3, 4, 5], size=customers)
    career = rng.choice([-1, *range(1, 11)], size=customers)
    income = np.round(np.exp(rng.normal(9.0, 0.6, customers)), 1)
    n_stages = rng.integers(1, 7, customers)
    for i in range(customers):
        stages = sorted(rng.choice(np.arange(1, 11), size=int(n_stages[i]), replace=False).tolist())
        plan.customers.append(
            {
                "id": i + 1,
                "props": {
                    "gender": int(gender[i]),
                    "age_level": int(age[i]),
                    "education": int(education[i]),
                    "career": int(career[i]),
                    "income": float(income[i]),
                    "stages": stages,
                },
            }
        )


def _sample_products(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    who: np.ndarray,
    favourites: np.ndarray,
    n_favourites: np.ndarray,
) -> np.ndarray:
    """For each interaction's customer, a product: with probability AFFINITY from one of
    the customer's favourite categories, else from anywhere; by popularity either way."""
    n = len(who)
    products = len(catalogue.product_cat)
    pick = (rng.random(n) * n_favourites[who]).astype(np.int64)
    in_favourite = rng.random(n) < AFFINITY
    what = np.empty(n, dtype=np.int64)
    order, cumulative = _per_category_cumulative(catalogue)
    chosen_cat = favourites[who[in_favourite], pick[in_favourite]]
    u = chosen_cat + rng.random(chosen_cat.size) * (1 - 1e-12)
    slot = np.minimum(np.searchsorted(cumulative, u, side="right"), products - 1)
    what[in_favourite] = order[slot]
    global_p = catalogue.popularity / catalogue.popularity.sum()
    what[~in_favourite] = rng.choice(products, size=int((~in_favourite).sum()), p=global_p)
    return what


def _per_category_cumulative(catalogue: _Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """Products sorted by category, and each category's cumulative popularity scaled into
    [c, c + 1), so one searchsorted samples a product within any category."""
    product_cat = catalogue.product_cat
    order = np.lexsort((np.arange(len(product_cat)), product_cat))
    sorted_cat = product_cat[order]
    weights = catalogue.popularity[order]
    cumulative = np.zeros(len(product_cat))
    for c in catalogue.used_cats.tolist():
        lo, hi = np.searchsorted(sorted_cat, [c, c + 1])
        w = np.cumsum(weights[lo:hi])
        cumulative[lo:hi] = c + w / w[-1]
    return order, cumulative


def _types_and_days(
    rng: np.random.Generator, interactions: int, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each interaction's type (EComm's proportions) and day offset (uniform)."""
    kind = rng.choice(4, size=interactions, p=TYPE_SHARES / TYPE_SHARES.sum())
    offset = rng.integers(0, days, interactions)
    return kind, offset


def _day_numbers(first_day: date, days: int) -> np.ndarray:
    """The window's days as int YYYYMMDD."""
    return np.array(
        [int((first_day + timedelta(days=d)).strftime("%Y%m%d")) for d in range(days)], np.int64
    )


def _aggregate(
    who: np.ndarray,
    what: np.ndarray,
    kind: np.ndarray,
    offset: np.ndarray,
    products: int,
    day_of: np.ndarray,
) -> pd.DataFrame:
    """One row per (customer, product, type, day) with its count; ids are index + 1."""
    days = len(day_of)
    key = ((who.astype(np.int64) * products + what) * 4 + kind) * days + offset
    unique, counts = np.unique(key, return_counts=True)
    d = unique % days
    rest = unique // days
    k = rest % 4
    rest //= 4
    p = rest % products
    c = rest // products
    return pd.DataFrame(
        {
            "customer": pd.Series((c + 1).tolist(), dtype=object),
            "product": pd.Series((p + 1).tolist(), dtype=object),
            "type": TYPES[k],
            "day": day_of[d],
            "count": counts.astype(np.int64),
        }
    )


# -- the interaction-only shop -------------------------------------------------
@dataclass(frozen=True)
class CfFactors:
    """The hidden truth of an interaction-only shop (:func:`generate_cf`).

    The true score of customer row ``c`` for product row ``p`` (ids are row + 1) is
    ``s(c, p) = customer[c] . product[p] + bias[p]``; each interaction samples a product
    from ``softmax(s(c, .) / tau)``, so ranking by ``s`` is the best ranking any model can
    learn (the oracle).

    Shapes: ``customer`` [C, dim], ``product`` [P, dim], ``bias`` [P].
    """

    customer: np.ndarray
    product: np.ndarray
    bias: np.ndarray

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """True scores [len(rows), P] of the customers at ``rows`` (ids - 1) for every product."""
        return np.asarray(self.customer[rows] @ self.product.T + self.bias)


def cf_factors(customers: int, products: int, seed: int = 0, *, dim: int = CF_DIM) -> CfFactors:
    """The factors :func:`generate_cf` draws for these arguments (the same seed, the same
    factors; they do not depend on the number of interactions).

    Factors are Gaussian, scaled so that ``customer[c] . product[p]`` has variance
    CF_TASTE; the bias is ``-CF_BIAS * log(rank)`` (centred) for a random ranking of
    the products, so at ``tau`` the popularity behind the interactions follows a power
    law of exponent about CF_BIAS / tau.
    """
    if customers < 1 or products < 1 or dim < 1:
        raise ValueError("customers, products and dim must be >= 1")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    scale = np.sqrt(CF_TASTE) / dim**0.25
    customer = rng.normal(0.0, scale, (customers, dim))
    product = rng.normal(0.0, scale, (products, dim))
    log_rank = np.log(np.arange(1, products + 1, dtype=float))
    bias = -CF_BIAS * rng.permutation(log_rank - log_rank.mean())
    return CfFactors(customer=customer, product=product, bias=bias)


def generate_cf(
    customers: int,
    products: int,
    interactions: int,
    seed: int = 0,
    *,
    days: int = 10,
    first_day: date = date(2019, 6, 10),
    dim: int = CF_DIM,
    tau: float = CF_TAU,
) -> LoadPlan:
    """An interaction-only shop: ids and about ``interactions`` source rows, nothing else.

    Customers and products carry no properties, products no category, brand or price,
    like a shop that exports only who bought what. Behind the interactions are latent
    factors (:func:`cf_factors`, with the same ``seed`` and ``dim``): each customer's
    number of interactions is heavy-tailed, and each interaction draws a product from
    ``softmax((u_c . v_p + b_p) / tau)``, a type in EComm's proportions and a uniform day
    of the window, so a model trained on earlier days can be tested on the last one.
    """
    _check_sizes(customers, products, interactions, days)
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    factors = cf_factors(customers, products, seed, dim=dim)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    plan = LoadPlan(
        source=f"synthetic cf (customers={customers}, products={products}, "
        f"interactions={interactions}, seed={seed}, dim={dim}, tau={tau})"
    )
    plan.customers = [{"id": i + 1, "props": {}} for i in range(customers)]
    plan.products = [{"id": i + 1, "props": {}} for i in range(products)]
    activity = rng.pareto(1.5, customers) + 1.0
    per_customer = rng.multinomial(interactions, activity / activity.sum())
    who = np.repeat(np.arange(customers, dtype=np.int64), per_customer)
    what = _sample_cf_products(rng, factors, per_customer, tau)
    kind, offset = _types_and_days(rng, interactions, days)
    plan.interactions = _aggregate(who, what, kind, offset, products, _day_numbers(first_day, days))
    plan.rows_read = customers + products + interactions
    return plan


def _sample_cf_products(
    rng: np.random.Generator,
    factors: CfFactors,
    per_customer: np.ndarray,
    tau: float,
    block: int = 1024,
) -> np.ndarray:
    """``per_customer[c]`` products for each customer row c, in row order, drawn from
    ``softmax(scores / tau)``; ``block`` customers at a time, so memory stays at
    block x P however many customers there are.

    In a block, row r's cumulative probabilities are shifted into (r, r + 1], so one
    searchsorted over the flattened block samples every row's interactions.
    """
    products = len(factors.bias)
    what = np.empty(int(per_customer.sum()), dtype=np.int64)
    start = 0
    for lo in range(0, len(per_customer), block):
        rows = np.arange(lo, min(lo + block, len(per_customer)))
        counts = per_customer[rows]
        if not counts.any():
            continue
        logits = factors.scores(rows) / tau
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        cumulative = np.cumsum(weights, axis=1)
        cumulative /= cumulative[:, -1:]
        cumulative += np.arange(len(rows))[:, None]
        local = np.repeat(np.arange(len(rows)), counts)
        slot = np.searchsorted(cumulative.ravel(), local + rng.random(len(local)), side="right")
        what[start : start + len(local)] = np.minimum(slot - local * products, products - 1)
        start += len(local)
    return what
