"""The EComm source: the bundled copy, other copies, and malformed lines."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from kgstore.sources import ecomm
from kgstore.sources.plan import LoadError


@pytest.fixture(scope="module")
def bundled() -> Path:
    return ecomm.bundled_dir()


def test_bundled_copy_unpacks_once_with_all_files(bundled: Path) -> None:
    for name in (*ecomm.GRAPH_FILES, ecomm.PAIRS, "README.md", "SHA256SUMS"):
        assert (bundled / name).is_file(), name
    assert ecomm.bundled_dir() == bundled
    assert ecomm.pairs_file() == bundled / ecomm.PAIRS


def test_plan_counts_match_the_dataset(bundled: Path) -> None:
    plan = ecomm.read_ecomm(bundled)
    plan.complete()
    assert plan.counts() == {
        "customers": 1500,
        "products": 36224,
        "categories": 402,
        "brands": 67,
        "interactions": 80943,
        "interaction_count_sum": 85213,
    }
    by_type = plan.interactions.groupby("type")["count"].sum().to_dict()
    assert by_type == {
        "CLICKED": 57917,
        "FAVORITED": 5529,
        "ADDED_TO_CART": 15066,
        "BOUGHT": 6701,
    }
    levels = {row["props"]["level"] for row in plan.categories}
    assert levels == {1, 2}
    assert {r["parent"] for r in plan.subcategories} == {33}
    assert all(r["brand"] != 0 for r in plan.product_brands)
    first = plan.customers[0]
    assert first == {
        "id": 22479,
        "props": {
            "gender": 1,
            "age_level": 5,
            "education": -1,
            "career": 10,
            "income": 15203.1,
            "stages": [1, 6, 4, 8, 5, 2],
        },
    }


def _copy(bundled: Path, target: Path) -> Path:
    shutil.copytree(bundled, target)
    return target


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("garbage", "expected 4 tab-separated columns, got 1"),
        ("1\t2\t1\t2019061", "not a date"),
        ("1\t2\t7\t20190610", "interaction type 7 is not 1-4"),
        ("\t2\t1\t20190610", "empty id"),
        ("1\t2\tclick\t20190610", "not an integer"),
    ],
)
def test_malformed_edge_line_names_file_and_line(
    bundled: Path, tmp_path: Path, line: str, reason: str
) -> None:
    copy = _copy(bundled, tmp_path / "copy")
    with open(copy / ecomm.EDGES, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with pytest.raises(LoadError) as info:
        ecomm.read_ecomm(copy)
    message = str(info.value)
    assert ecomm.EDGES in message and "line 85214" in message and reason in message


def test_nan_price_and_duplicate_items_are_errors(bundled: Path, tmp_path: Path) -> None:
    copy = _copy(bundled, tmp_path / "copy")
    with open(copy / ecomm.ITEMS, "a", encoding="utf-8") as fh:
        fh.write("1\t33\t50002833\t0\tnan\n")
    with pytest.raises(LoadError, match=r"line 36225: 'nan' is not a number \(NaN\)"):
        ecomm.read_ecomm(copy)
    shutil.copy(bundled / ecomm.ITEMS, copy / ecomm.ITEMS)
    first = (bundled / ecomm.ITEMS).read_text().splitlines()[0]
    with open(copy / ecomm.ITEMS, "a", encoding="utf-8") as fh:
        fh.write(first + "\n")
    with pytest.raises(LoadError, match=r"line 36225: product .* appears twice"):
        ecomm.read_ecomm(copy)


def test_tarball_path_and_missing_paths(bundled: Path, tmp_path: Path) -> None:
    archive = tmp_path / "copy.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ecomm.GRAPH_FILES:
            tar.add(bundled / name, arcname=f"ecomm/{name}")
    assert len(ecomm.read_ecomm(archive).customers) == 1500
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ecomm.read_ecomm(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"ecomm_user_feature\.txt is missing"):
        ecomm.read_ecomm(empty)
