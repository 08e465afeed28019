"""An in-memory prefix tree of token ids and their attention keys/values, bounded by a memory budget.

The transformers backend keeps the key/value tensors of every sequence it processed (prompt plus generated tokens)
in a :class:`PrefixKVCache`. A later prompt that starts with the same token ids (a dialogue's next round, or the
next benchmark item after the same dialogue prefix) takes the keys/values of that common prefix from the tree and
only the rest is computed. Sequences are compared by token id, never by text.

The tree stores each shared prefix once: a node holds a run of token ids with their per-layer key/value tensors,
and its children continue the sequence. When the tensors exceed the budget, the least recently used leaves are
dropped first (a node is as recent as the newest sequence that passed through it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

LayerKV = list[tuple["torch.Tensor", "torch.Tensor"]]
"""Per model layer, the keys and values of a run of tokens, each shaped ``[heads, tokens, head_dim]``."""


@dataclass(eq=False)
class _Node:
    tokens: tuple[int, ...]
    kv: LayerKV
    parent: _Node | None
    children: dict[int, _Node] = field(default_factory=dict)
    last_used: int = 0

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + values.nbytes for keys, values in self.kv)


def common_prefix_length(left: Sequence[int], right: Sequence[int]) -> int:
    """How many leading items ``left`` and ``right`` share."""
    for position, (a, b) in enumerate(zip(left, right)):
        if a != b:
            return position
    return min(len(left), len(right))


def shared_prefix_length(sequences: Sequence[Sequence[int]], limit: int) -> int:
    """How many leading items all of ``sequences`` share, at most ``limit``."""
    length = min(limit, *(len(sequence) for sequence in sequences))
    first = sequences[0]
    for other in sequences[1:]:
        if length <= 0:
            break
        length = common_prefix_length(first[:length], other)
    return max(length, 0)


class PrefixKVCache:
    """Keys/values of recently processed token sequences, looked up by longest common token prefix.

    Args:
        budget_bytes: Most bytes of key/value tensors kept; least recently used sequences are dropped beyond it.
    """

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._root = _Node((), [], None)
        self._clock = count(1)
        self.nbytes = 0
        """Bytes of key/value tensors held now."""
        self.n_tokens = 0
        """Token positions held now (each shared prefix counted once)."""
        self.evicted_tokens = 0
        """Token positions dropped to stay within the budget, since creation."""

    def _walk(self, tokens: Sequence[int]) -> list[tuple[_Node, int]]:
        """The nodes ``tokens`` runs through, each with how many of its tokens match."""
        path: list[tuple[_Node, int]] = []
        node, position = self._root, 0
        while position < len(tokens):
            child = node.children.get(tokens[position])
            if child is None:
                break
            matched = common_prefix_length(child.tokens, tokens[position:])
            path.append((child, matched))
            if matched < len(child.tokens):
                break
            node, position = child, position + matched
        return path

    def match_length(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of ``tokens`` the cache holds keys/values for."""
        return sum(matched for _, matched in self._walk(tokens))

    def lookup(self, tokens: Sequence[int], limit: int) -> tuple[int, LayerKV]:
        """Keys/values of the longest cached prefix of ``tokens``, at most ``limit`` tokens long.

        Marks the prefix as recently used.

        Args:
            tokens: The token ids of a prompt.
            limit: Longest prefix wanted (e.g. ``len(tokens) - 1``: the last prompt token is always recomputed).

        Returns:
            The prefix length ``n`` (0 when nothing matches) and, per layer, keys and values shaped
            ``[heads, n, head_dim]`` (empty list when ``n == 0``). The tensors may share memory with the cache:
            read them, do not modify them.
        """
        import torch

        pieces: list[LayerKV] = []
        length = 0
        stamp = next(self._clock)
        for node, matched in self._walk(tokens):
            take = min(matched, limit - length)
            if take <= 0:
                break
            node.last_used = stamp
            pieces.append([(keys[:, :take], values[:, :take]) for keys, values in node.kv])
            length += take
        if not pieces:
            return 0, []
        if len(pieces) == 1:
            return length, pieces[0]
        layers = zip(*pieces)
        return length, [
            (torch.cat([k for k, _ in layer], dim=1), torch.cat([v for _, v in layer], dim=1)) for layer in layers
        ]

    def insert(self, tokens: Sequence[int], kv_from: Callable[[int], LayerKV]) -> None:
        """Remember a processed sequence, then drop least recently used sequences beyond the budget.

        Only the part not cached yet is stored: ``kv_from(start)`` is called once (if anything is new) and must
        return, per layer, keys and values of ``tokens[start:]`` shaped ``[heads, len(tokens) - start, head_dim]``.

        Args:
            tokens: The token ids whose keys/values were computed.
            kv_from: Gives the keys/values of ``tokens[start:]``.
        """
        tokens = tuple(tokens)
        stamp = next(self._clock)
        node, position = self._root, 0
        for child, matched in self._walk(tokens):
            if matched < len(child.tokens):
                if position + matched == len(tokens):  # the sequence ends inside a cached run: nothing new
                    child.last_used = stamp
                    return
                child = self._split(child, matched)  # the cut-off rest keeps its own last use
            child.last_used = stamp
            node, position = child, position + matched
        if position < len(tokens):
            kv = [(keys.clone(), values.clone()) for keys, values in kv_from(position)]
            if any(keys.shape[1] != len(tokens) - position for keys, _ in kv):
                raise ValueError(
                    f"kv_from({position}) returned {kv[0][0].shape[1]} positions for {len(tokens) - position} tokens"
                )
            leaf = _Node(tokens[position:], kv, node, last_used=stamp)
            node.children[tokens[position]] = leaf
            self.nbytes += leaf.nbytes
            self.n_tokens += len(leaf.tokens)
        self._evict()

    def _split(self, node: _Node, at: int) -> _Node:
        """Cut ``node`` after ``at`` tokens; return the new first part (its parent's child, ``node`` its child)."""
        head = _Node(
            node.tokens[:at],
            [(keys[:, :at].clone(), values[:, :at].clone()) for keys, values in node.kv],
            node.parent,
            last_used=node.last_used,
        )
        node.parent.children[head.tokens[0]] = head
        node.tokens = node.tokens[at:]
        node.kv = [(keys[:, at:].clone(), values[:, at:].clone()) for keys, values in node.kv]
        node.parent = head
        head.children[node.tokens[0]] = node
        return head

    def _leaves(self) -> list[_Node]:
        leaves, stack = [], list(self._root.children.values())
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            else:
                leaves.append(node)
        return leaves

    def _evict(self) -> None:
        while self.nbytes > self.budget_bytes:
            leaf = min(self._leaves(), key=lambda node: node.last_used)
            del leaf.parent.children[leaf.tokens[0]]
            self.nbytes -= leaf.nbytes
            self.n_tokens -= len(leaf.tokens)
            self.evicted_tokens += len(leaf.tokens)
