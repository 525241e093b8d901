"""Pack a Transformer's per-layer parameters into one ``(L, ...)`` array per name, and back.

The flat schema names every layer's parameters separately (``layers.3.fc2.weight``). A
Transformer's layers all have the same shapes, so the JAX trainer differentiates and
updates them *packed*: ``layers.*.fc2.weight`` of shape ``(L, D, F)``, whose ``[3]`` is
layer 3's. XLA then compiles a program over a dozen arrays instead of ``12 L`` (576 at
48 layers), which is most of its compile time; the forward pass scans over the packed
layers as it does anyway. Element-wise optimizers (SGD, momentum, Adam, RMSprop) and
clipping (a global norm is the same over packed or separate arrays) are unchanged by it.

Everything else (records, checkpoints, the monitor, group norms) stays in the flat names:
:meth:`Packing.unpack` and :meth:`Packing.group_order` translate. Models whose layers
differ in shape (RNNs: layer 0 reads the input; MLPs) are left as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..config import TransformerConfig
from ..params import map_with_path, param_shapes

_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(.+)$")
PACKED_PREFIX = "layers.*."


@dataclass(frozen=True)
class Packing:
    """Flat trainable keys <-> packed keys.

    keys:   the flat keys, in schema order (the gradient groups).
    slots:  for each flat key, ``(packed key, layer)``; layer is None for an unpacked key.
    packed: the packed keys, in order of first appearance.
    layers: ``L``, the length of every packed array's first axis (0: nothing packed).
    """

    keys: tuple[str, ...]
    slots: tuple[tuple[str, int | None], ...]
    packed: tuple[str, ...]
    layers: int

    def pack(self, flat: dict, stack=np.stack) -> dict:
        """``{packed key: array}`` from ``{flat key: array}`` (``stack``: ``np.stack`` or
        ``jnp.stack``); keys of ``flat`` outside ``keys`` are ignored."""
        members: dict[str, list] = {p: [] for p in self.packed}
        for k, (p, _layer) in zip(self.keys, self.slots):
            members[p].append(flat[k])
        return {p: (stack(v) if p.startswith(PACKED_PREFIX) else v[0]) for p, v in members.items()}

    def unpack(self, packed: dict) -> dict:
        """``{flat key: array}`` (views of the packed arrays where they are NumPy)."""
        return {k: packed[p] if layer is None else packed[p][layer] for k, (p, layer) in zip(self.keys, self.slots)}

    def group_order(self) -> np.ndarray:
        """``(G,)`` indices that turn the concatenation, over ``packed``, of each packed
        array's per-layer values (``L`` of them, or 1 for an unpacked key) into the
        order of ``keys``: ``per_key = concat[group_order]``."""
        offsets, pos = {}, 0
        for p in self.packed:
            offsets[p] = pos
            pos += self.layers if p.startswith(PACKED_PREFIX) else 1
        return np.array([offsets[p] + (layer or 0) for p, layer in self.slots], dtype=np.int64)

    def nest(self, packed: dict, config) -> dict:
        """The nested params a model's forward takes, with ``params["layers"]`` one dict of
        packed ``(L, ...)`` arrays instead of a list of per-layer dicts."""
        shapes = param_shapes(config)
        if not self.layers:
            return map_with_path(lambda k, _s: packed[k], shapes)
        out = map_with_path(lambda k, _s: packed[k], {k: v for k, v in shapes.items() if k != "layers"})
        out["layers"] = map_with_path(lambda k, _s: packed[k], shapes["layers"][0], PACKED_PREFIX[:-1])
        return out


def make_packing(model_config, keys) -> Packing:
    """The :class:`Packing` of ``keys`` (flat, schema order) for ``model_config``: a
    Transformer's ``layers.<l>.<name>`` keys share ``layers.*.<name>``; every other
    key (and every key of another model) stays as it is."""
    keys = tuple(keys)
    pack = isinstance(model_config, TransformerConfig)
    slots, packed = [], []
    for k in keys:
        m = _LAYER_KEY.match(k) if pack else None
        slot = (PACKED_PREFIX + m.group(2), int(m.group(1))) if m else (k, None)
        slots.append(slot)
        if slot[0] not in packed:
            packed.append(slot[0])
    layers = model_config.num_layers if pack else 0
    return Packing(keys, tuple(slots), tuple(packed), layers)
