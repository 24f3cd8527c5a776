"""Files people hand the CLI (behaviors, rollout plans): bounded in size, and YAML bounded in what it expands to."""

from __future__ import annotations

import os
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
"""A behavior is at most 256 KiB as JSON; its YAML with comments fits four times over."""

MAX_YAML_NODES = 250_000
"""Nodes of a YAML document with every alias expanded: more than a 256 KiB behavior can hold (~130,000
at two bytes a node, ``[1,1,...]``), and still only tens of MB once validated."""


class FileLimitError(ValueError):
    """A file or its YAML is over one of the limits above; the message names the limit."""


def read_user_file(path: str | os.PathLike[str]) -> bytes:
    """Read a file of at most ``MAX_FILE_BYTES``, without reading more than that of a larger one.

    Raises:
        FileLimitError: the file is larger.
        OSError: it cannot be read.
    """
    with open(path, "rb") as file:
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise FileLimitError(f"the file is larger than the limit of {MAX_FILE_BYTES // 1024:,} KiB")
    return raw


def load_yaml(text: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Parse one YAML document like ``yaml.safe_load``, refusing one whose aliases would blow it up.

    PyYAML builds an alias as a reference to its anchor's object, so a 600-byte "billion laughs" file
    loads quickly; it is whatever walks the result (validation, JSON encoding) that then visits
    every expanded node and grows to gigabytes. The document is therefore measured, expanded, between
    composing and constructing it, and refused past ``MAX_YAML_NODES``. Anchors and aliases within
    the limit (e.g. ``<<: *defaults``) keep working.

    Args:
        text: the YAML text.
        loader: a ``yaml.SafeLoader`` subclass (e.g. one that refuses duplicate keys).

    Returns:
        The document's data (None for an empty document).

    Raises:
        FileLimitError: it expands past the limit, an alias refers to itself, or it nests too deeply.
        yaml.YAMLError: it is not valid YAML.
    """
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return parser.construct_document(node)
    except RecursionError as exc:
        raise FileLimitError("the YAML is nested too deeply") from exc
    finally:
        parser.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Nodes under ``node`` with aliases expanded; each distinct node is measured once (``sizes``)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise FileLimitError("a YAML alias refers to a node that contains it (a recursive document)")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    size = 1
    for child in children:
        size += _expanded_size(child, sizes, open_nodes)
        if size > MAX_YAML_NODES:
            raise FileLimitError(
                f"the YAML expands to more than {MAX_YAML_NODES:,} nodes through its aliases "
                "(a 'billion laughs' document?)"
            )
    open_nodes.discard(key)
    sizes[key] = size
    return size
