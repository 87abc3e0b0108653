"""GraphFrame.with_nodes: a grown graph brought back to the nodes a run knows."""

import numpy as np
import pandas as pd
import pytest

from kgframe import GraphFrame


def _grown() -> GraphFrame:
    """Customers 0 (new: sorts first) and 1, 2; product 5 (new) between 3 and 9; category
    30 (new) is the parent of 20; brand 50 (new)."""
    return GraphFrame(
        customers=pd.DataFrame({"id": [0, 1, 2], "age": [None, 30, 40]}),
        products=pd.DataFrame(
            {"id": [3, 5, 9], "price": [1.0, 2.0, 3.0], "category": [0, 2, 1], "brand": [0, 1, -1]}
        ),
        categories=pd.DataFrame({"id": [10, 20, 30], "parent": [-1, 2, np.nan]}),
        brands=pd.DataFrame({"id": [40, 50]}),
        interactions=pd.DataFrame(
            {
                "customer": [0, 1, 1, 2],
                "product": [0, 0, 1, 2],
                "type": ["BOUGHT", "CLICKED", "CLICKED", "BOUGHT"],
                "day": [20240102, 20240101, 20240102, 20240101],
                "count": [1, 2, 3, 4],
            }
        ),
    )


def test_with_nodes_keeps_exactly_the_known_nodes_in_their_order():
    old = _grown().with_nodes([2, 1], [9, 3], [20, 10], [40])
    assert old.customers["id"].tolist() == [2, 1]
    assert old.customers["age"].tolist() == [40, 30]
    assert old.products["id"].tolist() == [9, 3]
    # product 9's category 20 is row 0 now; product 3's category 10 row 1, brand 40 row 0
    assert old.products["category"].tolist() == [0, 1]
    assert old.products["brand"].tolist() == [-1, 0]
    # category 20's parent 30 is not kept: no parent
    assert old.categories["parent"].tolist() == [-1, -1]
    assert old.brands["id"].tolist() == [40]
    # customer 0 and product 5 are gone, with their interactions; rows follow the new order
    inter = old.interactions
    assert sorted(zip(inter["customer"], inter["product"], inter["count"], strict=True)) == [
        (0, 0, 4),
        (1, 1, 2),
    ]


def test_with_nodes_names_ids_the_graph_lacks():
    with pytest.raises(KeyError, match=r"1 product ids are not in the graph: \[77\]"):
        _grown().with_nodes([1], [3, 77], [10], [40])
