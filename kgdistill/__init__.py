"""kgdistill: distil a GAT teacher trained on a Neo4j product graph into small, fast students."""

__version__ = "0.1.0"
