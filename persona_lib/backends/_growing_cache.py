"""A key/value cache for batched decoding that writes into buffers allocated once.

``transformers``' ``DynamicCache`` appends each decoding step with ``torch.cat``, copying the whole cache of every
layer at every step; with long dialogue prefixes that copy costs more than the model's matrix products (measured:
41 % of the time of 16 rows x 1,300 cached tokens x 48 new tokens on CPU). Here each layer allocates its final size
once, writes new positions in place and exposes the filled part as a view, so attention sees exactly the same
tensors as with ``DynamicCache``.

Imported only by the transformers backend (it imports ``transformers``).
"""

from __future__ import annotations

from functools import partial

import torch
from transformers import Cache
from transformers.cache_utils import DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A ``DynamicLayer`` holding up to ``capacity`` positions in buffers allocated on its first update.

    Args:
        capacity: Most positions this layer will hold (cached prefix + prompt + generated tokens).
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new positions after the filled ones; return keys and values of every filled position."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.key_buffer = key_states.new_empty((*key_states.shape[:2], self.capacity, key_states.shape[3]))
            self.value_buffer = value_states.new_empty((*value_states.shape[:2], self.capacity, value_states.shape[3]))
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"key/value cache layer is full: {end} positions needed, {self.capacity} allocated")
        self.key_buffer[:, :, self.length : end] = key_states
        self.value_buffer[:, :, self.length : end] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def _expose(self) -> None:
        self.keys = self.key_buffer[:, :, : self.length]
        self.values = self.value_buffer[:, :, : self.length]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the rows ``indices``."""
        if self.is_initialized:
            self.key_buffer = self.key_buffer[indices]
            self.value_buffer = self.value_buffer[indices]
            self._expose()


def preallocated_cache(capacity: int) -> Cache:
    """A cache whose layers (created as the model's forward pass reaches them) each hold ``capacity`` positions."""
    return Cache(layer_class_to_replicate=partial(PreallocatedLayer, capacity))
