"""The Transformer-layer packing the JAX trainer uses (framework-free): round trips, group
order, the nested params it hands the forward pass, and identity for other models."""
import numpy as np
import pytest

import rnnflow
from rnnflow.params import flatten, param_shapes
from rnnflow.training.loop import trainable_keys
from rnnflow.training.packing import make_packing

TF = rnnflow.TransformerConfig(input_size=3, d_model=8, num_heads=2, num_layers=4, d_ff=12, output_size=2)


def test_pack_unpack_round_trip_and_layer_slices():
    p = flatten(rnnflow.init_params(TF, 0, np.float64))
    keys = trainable_keys(TF)
    packing = make_packing(TF, keys)
    packed = packing.pack(p)
    assert len(packed) < len(keys) and packing.layers == 4
    w = packed["layers.*.fc2.weight"]
    assert w.shape == (4,) + p["layers.0.fc2.weight"].shape
    for layer in range(4):
        np.testing.assert_array_equal(w[layer], p[f"layers.{layer}.fc2.weight"])
    back = packing.unpack(packed)
    assert list(back) == list(keys)
    for k in keys:
        np.testing.assert_array_equal(back[k], p[k], err_msg=k)


def test_group_order_puts_per_layer_values_in_flat_key_order():
    keys = trainable_keys(TF)
    packing = make_packing(TF, keys)
    # per packed array: a value per layer (L of them) or one; each value names its flat key
    parts = []
    for name in packing.packed:
        if name.startswith("layers.*."):
            parts += [name.replace("*", str(layer)) for layer in range(packing.layers)]
        else:
            parts.append(name)
    assert [parts[i] for i in packing.group_order()] == list(keys)


def test_nest_gives_the_schema_with_one_dict_of_stacked_layers():
    p = flatten(rnnflow.init_params(TF, 1, np.float64))
    packing = make_packing(TF, trainable_keys(TF))
    nested = packing.nest(packing.pack(p), TF)
    shapes = param_shapes(TF)
    assert set(nested) == set(shapes)
    assert isinstance(nested["layers"], dict)
    assert flatten(nested["layers"]).keys() == flatten(shapes["layers"][0]).keys()
    assert nested["layers"]["fc1"]["weight"].shape[0] == 4
    np.testing.assert_array_equal(nested["head"]["weight"], p["head.weight"])


@pytest.mark.parametrize("config", [rnnflow.RNNConfig(2, 5, num_layers=3, output_size=1),
                                    rnnflow.MLPConfig(input_size=4, output_size=2, width=6, depth=3)],
                         ids=["rnn", "mlp"])
def test_other_models_are_left_unpacked(config):
    keys = trainable_keys(config)
    packing = make_packing(config, keys)
    assert packing.packed == keys and packing.layers == 0
    assert packing.group_order().tolist() == list(range(len(keys)))
    p = flatten(rnnflow.init_params(config, 0))
    assert packing.pack(p).keys() == set(keys) and all(packing.unpack(p)[k] is p[k] for k in keys)
