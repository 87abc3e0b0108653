"""The CSV interchange format: inference, overrides, partial files and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgstore.sources.csv_files import read_csv_dir, read_schema, write_csv_dir
from kgstore.sources.ecomm import read_ecomm
from kgstore.sources.plan import MAX_TEXT_LENGTH, LoadError


def _dir(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return tmp_path


SHOP = {
    "customers": (
        'customer_id,gender,income,stages,city\n1,0,1200.5,"1;4;8",Köln\n2,1,,"3",Zürich\n'
    ),
    "products": "product_id,category_id,brand_id,price,color\nA1,10,b1,9.99,red\nA2,10,,5,\n",
    "categories": "category_id,parent_id,level\n1,,1\n10,1,2\n",
    "interactions": (
        "customer_id,product_id,type,timestamp\n"
        "1,A1,click,2019-06-10T10:00:00\n1,A1,click,2019-06-10T11:00:00\n"
        "2,A2,buy,2019-06-11\n"
    ),
}


def test_a_small_shop_parses_with_inferred_types(tmp_path: Path) -> None:
    plan = read_csv_dir(_dir(tmp_path, **SHOP))
    plan.complete()
    assert plan.customers == [
        {"id": 1, "props": {"gender": 0, "income": 1200.5, "stages": [1, 4, 8], "city": "Köln"}},
        {"id": 2, "props": {"gender": 1, "stages": [3], "city": "Zürich"}},  # empty: missing
    ]
    assert plan.products == [
        {"id": "A1", "props": {"price": 9.99, "color": "red"}},
        {"id": "A2", "props": {"price": 5.0}},
    ]
    assert plan.product_categories == [{"id": "A1", "category": 10}, {"id": "A2", "category": 10}]
    assert plan.product_brands == [{"id": "A1", "brand": "b1"}]
    assert plan.brands == [{"id": "b1", "props": {}}]
    assert plan.subcategories == [{"id": 10, "parent": 1}]
    assert [c["props"] for c in plan.categories] == [{"level": 1}, {"level": 2}]
    rows = sorted(tuple(r) for r in plan.interactions.itertuples(index=False))
    assert rows == [(1, "A1", "CLICKED", 20190610, 2), (2, "A2", "BOUGHT", 20190611, 1)]
    assert plan.rows_read == 2 + 2 + 2 + 3


def test_schema_overrides_inference(tmp_path: Path) -> None:
    schema = tmp_path / "schema.toml"
    schema.write_text('[customers]\ngender = "str"\nincome = "ignore"\nstages = "list[str]"\n')
    plan = read_csv_dir(_dir(tmp_path, customers=SHOP["customers"]), schema)
    assert plan.customers[0]["props"] == {"gender": "0", "stages": ["1", "4", "8"], "city": "Köln"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[customers]\ngender = "number"\n')
    with pytest.raises(LoadError, match="types: int, float"):
        read_schema(bad)
    with pytest.raises(FileNotFoundError, match="schema file"):
        read_schema(tmp_path / "missing.toml")


def test_every_file_is_optional_and_missing_ones_are_noted(tmp_path: Path) -> None:
    plan = read_csv_dir(_dir(tmp_path, interactions=SHOP["interactions"]))
    assert len(plan.interactions) == 2 and not plan.customers and not plan.products
    assert "no customers.csv: skipped" in plan.notes


def test_empty_files_load_nothing_with_a_note(tmp_path: Path) -> None:
    plan = read_csv_dir(_dir(tmp_path, customers="", products="product_id,price\n"))
    assert not plan.customers and not plan.products
    assert "customers.csv is empty: nothing loaded from it" in plan.notes
    assert "products.csv is empty: nothing loaded from it" in plan.notes


def test_missing_directory_or_no_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_csv_dir(tmp_path / "nope")
    with pytest.raises(LoadError, match="holds none of"):
        read_csv_dir(tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("customers", "customer_id,a\n1,2\n2\n", r"customers.csv, line 3: expected 2 columns"),
        ("customers", "customer_id,a\n1,2\n,3\n", r"line 3: column 'customer_id': empty id"),
        ("customers", "customer_id\n1\n1\n", r"line 3: customer 1 appears twice"),
        ("customers", "id,a\n1,2\n", r"line 1: the first column must be 'customer_id'"),
        ("customers", "customer_id,x y\n1,2\n", r"line 1: feature column name 'x y'"),
        ("customers", "customer_id,updated_at\n1,2\n", r"line 1: feature column 'updated_at' is"),
        ("products", "product_id,price\n1,nan\n", r"line 2: column 'price': 'nan' is not a"),
        ("products", "product_id,price\n1,inf\n", r"line 2: column 'price': 'inf' is infinite"),
        ("products", "product_id,price\n1,cheap\n", r"line 2: column 'price': 'cheap' is not"),
        ("products", "product_id,weight\n1,2.5\n2,inf\n", r"line 3: column 'weight': 'inf' is"),
        ("categories", "category_id,parent_id\n5,5\n", r"line 2: category 5 is its own parent"),
        ("categories", "category_id,level\n5,top\n", r"line 2: column 'level': 'top' is not an"),
        (
            "interactions",
            "customer_id,product_id,type,timestamp\n1,2,click,2019-02-30\n",
            r"interactions.csv, line 2: column 'timestamp': '2019-02-30' is not a date",
        ),
        (
            "interactions",
            "customer_id,product_id,type,timestamp\n1,2,drop table,2019-02-01\n",
            r"line 2: column 'type': interaction type 'drop table' is not allowed",
        ),
        (
            "interactions",
            "customer_id,product_id,type,timestamp,count\n1,2,buy,2019-02-01,0\n",
            r"line 2: column 'count': count 0 is not a positive integer",
        ),
        (
            "interactions",
            "customer_id,product_id,kind,timestamp\n1,2,buy,2019-02-01\n",
            r"line 1: interactions.csv needs the columns .* missing \['type'\], unknown \['kind'\]",
        ),
        ("customers", 'customer_id,a\n1,"open quote\n', r"customers.csv, line \d: unreadable CSV"),
    ],
)
def test_malformed_rows_name_file_line_and_reason(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    with pytest.raises(LoadError, match=expected) as info:
        read_csv_dir(_dir(tmp_path, **{name: text}))
    assert str(info.value).endswith("nothing was loaded")


def test_nan_in_a_feature_column_means_missing(tmp_path: Path) -> None:
    plan = read_csv_dir(_dir(tmp_path, products="product_id,weight\n1,2.5\n2,NaN\n3,\n"))
    assert [p["props"] for p in plan.products] == [{"weight": 2.5}, {}, {}]


def test_long_text_is_refused_and_unicode_kept(tmp_path: Path) -> None:
    long = "x" * (MAX_TEXT_LENGTH + 1)
    with pytest.raises(LoadError, match="line 2: column 'note': text is 10001 characters"):
        read_csv_dir(_dir(tmp_path, customers=f"customer_id,note\n1,{long}\n"))
    with pytest.raises(LoadError, match="line 2: column 'customer_id': id is 300 characters"):
        read_csv_dir(_dir(tmp_path, customers=f"customer_id\n{'k' * 300}\n"))
    (tmp_path / "customers.csv").write_text("\ufeffcustomer_id,name\nкот-1,Ærøskøbing 東京\n")
    plan = read_csv_dir(tmp_path)  # a UTF-8 byte-order mark is fine
    assert plan.customers == [{"id": "кот-1", "props": {"name": "Ærøskøbing 東京"}}]


def test_text_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"customer_id,name\n1,caf\xe9\n")
    with pytest.raises(LoadError, match=r"customers\.csv, line 2: not UTF-8 text \(byte 0xe9"):
        read_csv_dir(tmp_path)
    # Deep in a file too: the reader decodes ahead in blocks (it said "after line 0").
    rows = b"".join(b"%d,name\n" % i for i in range(2, 5000))
    (tmp_path / "customers.csv").write_bytes(b"customer_id,name\n" + rows + b"9999,caf\xe9\n")
    with pytest.raises(LoadError, match=r"customers\.csv, line 5000: not UTF-8"):
        read_csv_dir(tmp_path)


def test_ecomm_round_trips_through_the_csv_format(tmp_path: Path) -> None:
    plan = read_ecomm()
    write_csv_dir(plan, tmp_path)
    again = read_csv_dir(tmp_path)
    plan.complete()
    again.complete()
    assert again.counts() == plan.counts()
    assert again.customers == plan.customers
    assert again.products == plan.products
    assert sorted(map(str, again.categories)) == sorted(map(str, plan.categories))
    assert again.subcategories == plan.subcategories
    assert again.product_brands == plan.product_brands
    left = plan.interactions.sort_values(["customer", "product", "type", "day"])
    right = again.interactions.sort_values(["customer", "product", "type", "day"])
    assert left.reset_index(drop=True).equals(right.reset_index(drop=True))


def test_interactions_are_read_a_chunk_at_a_time_and_aggregated_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kgstore.sources.csv_files as csv_files
    from kgstore.sources.plan import aggregate_interactions, interaction_type, parse_day

    rng = np.random.default_rng(3)
    rows = [
        (int(c), f"P{p}", ["click", "CLICKED", "buy"][t], f"2019-06-{d:02d}", int(n))
        for c, p, t, d, n in zip(
            rng.integers(0, 9, 200),
            rng.integers(0, 7, 200),
            rng.integers(0, 3, 200),
            rng.integers(1, 4, 200),
            rng.integers(1, 5, 200),
            strict=True,
        )
    ]
    text = "".join(f"{c},{p},{t},{d},{n}\n" for c, p, t, d, n in rows)
    _dir(tmp_path, interactions="customer_id,product_id,type,timestamp,count\n" + text)
    monkeypatch.setattr(csv_files, "CHUNK_ROWS", 7)  # 29 chunks; repeats span them
    got = read_csv_dir(tmp_path).interactions
    want = aggregate_interactions(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [interaction_type(r[2]) for r in rows],
        [parse_day(r[3]) for r in rows],
        [r[4] for r in rows],
    )
    assert len(got) < len(rows)  # "click" and "CLICKED" rows of a day merged, counts summed
    pd.testing.assert_frame_equal(got, want)

    bad = text.splitlines()
    bad[150] = bad[150].replace("2019-06-", "2019-13-")
    _dir(tmp_path, interactions="customer_id,product_id,type,timestamp,count\n" + "\n".join(bad))
    with pytest.raises(LoadError, match=r"interactions.csv, line 152: column 'timestamp'"):
        read_csv_dir(tmp_path)
