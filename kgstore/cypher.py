"""Every Cypher statement lives in `cypher/<group>/<name>.cypher`; this module loads them by name.

Values always travel as ``$parameters``. Labels and relationship types cannot be
parameters in Cypher, so a statement may hold ``{{placeholder}}`` tokens that
:func:`statement` fills with identifiers from configuration, each checked by
:func:`check_identifier` and backtick-quoted.
"""

from __future__ import annotations

import re
from functools import cache

from kgstore.resources import project_path

# fullmatch, not match with "$": "$" also matches before a trailing newline ("RECX\n").
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}", re.ASCII)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


class CypherError(ValueError):
    """A statement name, placeholder or identifier that cannot be used."""


def check_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is a safe Neo4j label, relationship type or property key.

    Letters, digits and underscores, starting with a letter, at most 64
    characters. Anything else (spaces, backticks, quotes, Cypher syntax) is
    refused, so configuration can never inject Cypher.
    """
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        text = repr(value)
        if len(text) > 80:  # never repeat a huge cell in an error
            text = f"{text[:80]}... ({len(str(value)):,} characters)"
        raise CypherError(
            f"{what} {text} is not allowed: use letters, digits and underscores, "
            "starting with a letter (at most 64 characters)"
        )
    return value


@cache
def _read(name: str) -> str:
    if not _NAME.match(name):
        raise CypherError(f"bad statement name {name!r}: expected e.g. 'load/merge_customers'")
    path = project_path(f"cypher/{name}.cypher")
    if not path.is_file():
        raise CypherError(f"no Cypher statement {name!r} (looked for {path})")
    return path.read_text(encoding="utf-8")


def placeholders(name: str) -> set[str]:
    """The ``{{placeholder}}`` names a statement needs."""
    return set(_PLACEHOLDER.findall(_read(name)))


def statement(name: str, **identifiers: str) -> str:
    """The text of ``cypher/<name>.cypher`` with its placeholders filled.

    Every placeholder must be given and every given identifier must be used,
    so a typo in configuration fails loudly instead of running the wrong query.
    """
    text = _read(name)
    needed = placeholders(name)
    missing = needed - identifiers.keys()
    if missing:
        raise CypherError(f"statement {name!r} needs identifiers {sorted(missing)}")
    unused = identifiers.keys() - needed
    if unused:
        raise CypherError(f"statement {name!r} has no placeholders {sorted(unused)}")
    checked = {key: check_identifier(value, key) for key, value in identifiers.items()}
    return _PLACEHOLDER.sub(lambda m: f"`{checked[m.group(1)]}`", text)
