"""The cell parsers every source shares: what counts as a bad value."""

from __future__ import annotations

import pytest

from kgstore.sources.plan import (
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    LoadError,
    LoadPlan,
    aggregate_interactions,
    interaction_type,
    parse_day,
    parse_float,
    parse_id,
    parse_int,
    parse_text,
)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("20190610", 20190610),
        ("2019-06-10", 20190610),
        ("2019-06-10T23:59:59", 20190610),
        ("2019-06-10T23:30:00-05:00", 20190610),  # the written date, offset not applied
        ("2019-06-10T08:00:00Z", 20190610),
        ("2019-06-10 08:00:00.123456", 20190610),
        (" 2019-06-10 ", 20190610),
    ],
)
def test_dates_and_datetimes_become_yyyymmdd(text: str, day: int) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["", "2019-13-01", "20191340", "yesterday", "10/06/2019", "2019"])
def test_bad_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_day(text)


def test_floats_refuse_nan_and_infinity_unless_nan_is_allowed() -> None:
    assert parse_float(" 21.8 ") == 21.8
    for text in ("inf", "-inf", "Infinity"):
        with pytest.raises(ValueError, match="infinite"):
            parse_float(text, allow_nan=True)
    with pytest.raises(ValueError, match="NaN"):
        parse_float("nan")
    assert parse_float("NaN", allow_nan=True) != parse_float("NaN", allow_nan=True)
    with pytest.raises(ValueError, match="not a number"):
        parse_float("12,5")


def test_ids_are_normalized_and_bounded() -> None:
    assert parse_id(" 0042 ") == 42
    assert parse_id("sku-7") == "sku-7"
    assert parse_id("käse-ü-商品") == "käse-ü-商品"
    with pytest.raises(ValueError, match="empty id"):
        parse_id("   ")
    with pytest.raises(ValueError, match="characters long"):
        parse_id("x" * (MAX_ID_LENGTH + 1))
    assert parse_id("x" * MAX_ID_LENGTH) == "x" * MAX_ID_LENGTH


def test_long_text_is_refused() -> None:
    assert parse_text("é" * MAX_TEXT_LENGTH) == "é" * MAX_TEXT_LENGTH
    with pytest.raises(ValueError, match="characters long"):
        parse_text("a" * (MAX_TEXT_LENGTH + 1))


@pytest.mark.parametrize(
    ("word", "rel_type"),
    [
        ("click", "CLICKED"),
        ("CLICKED", "CLICKED"),
        ("pv", "CLICKED"),
        ("favourite", "FAVORITED"),
        ("collect", "FAVORITED"),
        ("cart", "ADDED_TO_CART"),
        ("add-to-cart", "ADDED_TO_CART"),
        ("buy", "BOUGHT"),
        ("Purchase", "BOUGHT"),
        ("returned", "RETURNED"),  # not an alias: upper-cased
    ],
)
def test_interaction_words_map_to_relationship_types(word: str, rel_type: str) -> None:
    assert interaction_type(word) == rel_type


@pytest.mark.parametrize("word", ["", "1", "drop`me", "a b", "x) DETACH DELETE (n"])
def test_interaction_words_that_are_not_identifiers_are_refused(word: str) -> None:
    with pytest.raises(ValueError, match="interaction type"):
        interaction_type(word)


def test_aggregation_counts_source_rows_per_customer_product_type_day() -> None:
    frame = aggregate_interactions(
        [1, 1, 1, 2], [9, 9, 9, 9], ["CLICKED", "CLICKED", "BOUGHT", "CLICKED"], [5, 5, 5, 5]
    )
    rows = {tuple(r) for r in frame.itertuples(index=False)}
    assert rows == {(1, 9, "CLICKED", 5, 2), (1, 9, "BOUGHT", 5, 1), (2, 9, "CLICKED", 5, 1)}
    counted = aggregate_interactions([1, 1], [9, 9], ["CLICKED"] * 2, [5, 5], [3, 4])
    assert counted["count"].tolist() == [7]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("100000000000000000000000", "out of range"),  # 10^23: above int64
        ("9223372036854775808", "out of range"),  # 2^63
        ("-9223372036854775809", "out of range"),
        ("４２", "not an integer"),  # full-width digits
        ("1_000", "not an integer"),
        ("1e3", "not an integer"),
    ],
)
def test_integers_are_ascii_and_fit_in_int64(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_int(text)


def test_integers_at_the_int64_bounds_are_kept() -> None:
    assert parse_int(" 9223372036854775807 ") == 2**63 - 1
    assert parse_int("-9223372036854775808") == -(2**63)
    with pytest.raises(ValueError, match="out of range"):
        parse_int("0", low=1)


@pytest.mark.parametrize("text", ["1_000", "４２.5", "1e999x", "0x10", ""])
def test_floats_are_ascii_decimal(text: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_float(text)
    with pytest.raises(ValueError, match="infinite"):
        parse_float("1e999")  # overflows to infinity


def test_full_width_digits_are_a_string_id_not_an_integer() -> None:
    assert parse_id("４２") == "４２"
    assert parse_id("42") == 42
    with pytest.raises(ValueError, match="not a date"):
        parse_day("２０１９０６１０")


def test_error_messages_cut_huge_values() -> None:
    with pytest.raises(ValueError) as info:
        parse_float("x" * 131_072)
    assert len(str(info.value)) < 200
    assert "131,072 characters" in str(info.value)


def test_interaction_types_may_not_take_a_prediction_relationship() -> None:
    assert interaction_type("returned", ("RECOMMENDED",)) == "RETURNED"
    with pytest.raises(ValueError, match="'RECOMMENDED' is the relationship predictions"):
        interaction_type("recommended", ("RECOMMENDED", "PREDICTED_CATEGORY"))


def test_a_plan_with_an_oversized_integer_is_refused_before_writing() -> None:
    plan = LoadPlan(source="test")
    plan.customers.append({"id": "c1", "props": {"big": 10**23}})
    with pytest.raises(LoadError, match=r"customer 'c1', property 'big': .* out of range"):
        plan.check_values()
    plan.customers[0]["props"] = {"stages": [1, float("inf")]}
    with pytest.raises(LoadError, match="not a finite number"):
        plan.check_values()
