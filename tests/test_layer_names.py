"""Layer names and indices: one way to pick a layer everywhere."""
import json
import zipfile

import numpy as np
import pytest
import torch
import torchvision
from reference import random_mlp

import semiring_lrp as sl
from semiring_lrp import models


def test_shipped_models_name_their_layers(mlp, cnn):
    assert mlp.names == ("flatten", "fc1", "relu1", "fc2", "relu2", "fc3")
    assert cnn.names == ("conv1", "relu1", "conv2", "relu2", "pool1", "conv3", "relu3",
                         "conv4", "relu4", "pool2", "flatten", "fc1", "relu5", "fc2")
    assert mlp.astype(np.float64).names == mlp.names
    assert mlp.masked("fc1", [0]).names == mlp.names


def test_imported_layers_are_named_by_module_path():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU(),
                                torch.nn.Dropout(), torch.nn.Sequential(torch.nn.Linear(3, 2)))
    assert sl.from_torch(model).names == ("0", "1", "2", "4.0")
    vgg16 = torchvision.models.vgg16()
    vgg = sl.from_torch(vgg16)
    assert vgg.names[:5] == ("features.0", "features.1", "features.2", "features.3",
                             "features.4")
    assert vgg.names[30:] == ("features.30", "avgpool", "flatten", "classifier.0",
                              "classifier.1", "classifier.3", "classifier.4", "classifier.6")
    # models.vgg16 names its layers as from_torch does
    state = {k: v.numpy() for k, v in vgg16.state_dict().items()}
    built = models._vgg_network("vgg16", lambda name, shape, dtype=None: state[name])
    assert built.names == vgg.names
    # a folded BatchNorm leaves the conv's name
    bn = sl.from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                           torch.nn.ReLU()).eval())
    assert bn.names == ("0", "2")


def test_hand_built_networks_are_named_by_index():
    net = random_mlp(np.random.default_rng(0), (5, 4, 3), np.float64)
    assert net.names == tuple(str(i) for i in range(len(net.layers)))
    assert net.layer_index("2") == 2 == net.layer_index(2) == net.layer_index(-1)


@pytest.mark.parametrize("names,error,match", [
    (["a", "b"], ValueError, "2 names for 3 layers"),
    (["a", "a", "b"], ValueError, "repeated: a"),
    (["a", "", "b"], TypeError, "non-empty string"),
    (["a", 1, "b"], TypeError, "names\\[1\\]"),
    (["a", "input", "b"], ValueError, "end of the chain"),
    ("abc", TypeError, "not one string"),
])
def test_bad_names(names, error, match):
    layers = [sl.Linear(np.ones((3, 4))), sl.ReLU(), sl.Linear(np.ones((2, 3)))]
    with pytest.raises(error, match=match):
        sl.Network(layers, names=names)


def test_a_wrong_name_lists_the_valid_ones(mlp, digits):
    x, _ = digits
    with pytest.raises(ValueError, match="no layer is named 'fc4'.*fc1, relu1, fc2"):
        sl.relevance(mlp, x, layer="fc4")
    with pytest.raises(ValueError, match="out of range"):
        sl.relevance(mlp, x, layer=6)
    with pytest.raises(TypeError, match="name .* or its index"):
        sl.relevance(mlp, x, layer=1.0)
    with pytest.raises(ValueError, match="'relu1' .* has no weights.*'fc1'"):
        mlp.masked("relu1", [0])
    with pytest.raises(ValueError, match="'fc1' .* is not a pooling layer; the pooling "
                                         "layers are none"):
        mlp.pooling_index("fc1")


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_one_layer_equals_its_entry_in_return_all(model, request, digits):
    net = request.getfixturevalue(model)
    x, labels = digits
    x = x if model == "mlp" else x[:, None]
    for semiring in (sl.Real(), sl.Counting(), sl.Viterbi()):
        _, every = sl.relevance(net, x, target=labels, semiring=semiring, return_all=True)
        for i, name in enumerate(net.names):
            by_name = sl.relevance(net, x, target=labels, semiring=semiring, layer=name)
            by_index = sl.relevance(net, x, target=labels, semiring=semiring, layer=i)
            np.testing.assert_array_equal(by_name, every[i])
            np.testing.assert_array_equal(by_index, every[i])
            np.testing.assert_array_equal(every[name], every[i])
            assert by_name.dtype == every[i].dtype
        np.testing.assert_array_equal(every["input"], every[0])
        np.testing.assert_array_equal(every["output"], every[-1])
        out = sl.relevance(net, x, target=labels, semiring=semiring, layer="output")
        np.testing.assert_array_equal(out, every[-1])
    # one sample: no batch axis, as return_all gives it
    _, every = sl.relevance(net, x[3], target=int(labels[3]), return_all=True)
    hidden = sl.relevance(net, x[3], target=int(labels[3]), layer=net.names[3])
    assert hidden.shape == every[3].shape == net.activations(x[3:4])[3].shape[1:]
    np.testing.assert_array_equal(hidden, every[3])
    with pytest.raises(ValueError, match="one or the other"):
        sl.relevance(net, x, layer=2, return_all=True)


def test_masked_by_name_equals_masked_by_index(mlp, digits):
    x, _ = digits
    by_name = mlp.masked("fc2", [1, 7])
    by_index = mlp.masked(3, [1, 7])
    np.testing.assert_array_equal(by_name.forward(x), by_index.forward(x))
    assert np.all(by_name.activations(x)[4][:, [1, 7]] == 0)
    # the output layer is masked only when asked for by its own name or index
    assert np.all(mlp.masked("fc3", [2]).forward(x)[:, 2] == 0)
    np.testing.assert_array_equal(mlp.masked(-1, [2]).forward(x),
                                  mlp.masked("fc3", [2]).forward(x))


def test_rules_and_thresholds_by_name_or_index_equal_lists(cnn, digits):
    x, labels = digits
    x = x[:6, None]
    rule_list = [sl.rules.Gamma(0.25), sl.rules.Epsilon(0.1), sl.rules.Zero(),
                 sl.rules.Gamma(0.1), sl.rules.Epsilon(1e-3), sl.rules.Zero()]
    weighted_names = [cnn.names[i] for i in cnn.weighted_layers]
    by_name = dict(zip(weighted_names, rule_list))
    by_index = dict(zip(cnn.weighted_layers, rule_list))
    mixed = {**dict(zip(weighted_names[:3], rule_list[:3])),
             **dict(zip(cnn.weighted_layers[3:], rule_list[3:]))}
    expected = sl.relevance(cnn, x, rule=rule_list)
    for rules in (by_name, by_index, mixed):
        np.testing.assert_array_equal(sl.relevance(cnn, x, rule=rules), expected)

    thetas = [1e-9, 1e-3, 1e-2, 1e-3, 1e-4, 1e-9]
    pools = [1e-9, 1e-2]
    expected = sl.relevance(cnn, x, semiring=sl.Counting(thetas, pool_threshold=pools))
    for semiring in (sl.Counting(dict(zip(weighted_names, thetas)),
                                 pool_threshold={"pool1": 1e-9, "pool2": 1e-2}),
                     sl.Counting(dict(zip(cnn.weighted_layers, thetas)),
                                 pool_threshold={4: 1e-9, 9: 1e-2})):
        np.testing.assert_array_equal(sl.relevance(cnn, x, semiring=semiring), expected)
    # a differing entry changes the result: the dict is really read
    changed = dict(zip(weighted_names, thetas), fc1=0.5)
    assert not np.array_equal(sl.relevance(cnn, x, semiring=sl.Counting(changed)), expected)


@pytest.mark.parametrize("rules,match", [
    ({"fc1": sl.rules.Zero(), "fc2": sl.rules.Zero()}, "no entry for 'fc3'"),
    ({"fc1": sl.rules.Zero(), "fc2": sl.rules.Zero(), "fc3": sl.rules.Zero(), 1: sl.rules.Zero()},
     "twice"),
    ({"relu1": sl.rules.Zero()}, "has no weights"),
    ({"fc9": sl.rules.Zero()}, "no layer is named 'fc9'"),
])
def test_bad_rule_dicts(mlp, digits, rules, match):
    with pytest.raises(ValueError, match=match):
        sl.relevance(mlp, digits[0], rule=rules)


def test_bad_threshold_dicts(mlp, digits):
    x = digits[0]
    with pytest.raises(ValueError, match="threshold dict gives no entry for 'fc3'"):
        sl.relevance(mlp, x, semiring=sl.Boolean({"fc1": 0.1, "fc2": 0.1}))
    with pytest.raises(ValueError, match="empty"):
        sl.Boolean({})
    with pytest.raises(ValueError, match="not a pooling layer"):
        sl.relevance(mlp, x, semiring=sl.Boolean(pool_threshold={"fc1": 0.1}))
    with pytest.raises(ValueError, match="per_layer"):
        sl.Boolean({"fc1": 0.1}).theta(0)


def test_names_survive_save_and_load(cnn, tmp_path):
    path = tmp_path / "cnn.npz"
    cnn.save(path)
    loaded = sl.load(path)
    assert loaded.names == cnn.names
    # a file written before layers had names loads with the default names
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    header_path = tmp_path / "header.npy"
    header_path.write_bytes(entries["header.npy"])
    header = json.loads(str(np.load(header_path)))
    del header["names"]
    old = tmp_path / "old.npz"
    np.save(header_path, np.array(json.dumps(header)))
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, header_path.read_bytes() if name == "header.npy" else data)
    assert sl.load(old).names == tuple(str(i) for i in range(len(cnn.layers)))
    header["names"] = ["a"] * 3
    np.save(header_path, np.array(json.dumps(header)))
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, header_path.read_bytes() if name == "header.npy" else data)
    with pytest.raises(ValueError, match="old.npz: names must be a list of 14 strings"):
        sl.load(old)


def test_summary(cnn, mlp, capsys):
    cnn.summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["index", "name", "layer", "output", "shape", "parameters",
                                "rule", "/", "threshold"]
    assert len(lines) == len(cnn.layers) + 2
    row = lines[1 + cnn.layer_index("conv3")]
    assert row.split()[:2] == ["5", "conv3"]
    assert "(32, 14, 14)" in row and "4,640" in row and row.endswith("rule[2], threshold[2]")
    assert lines[1 + cnn.layer_index("pool2")].endswith("pool_threshold[1]")
    total = sum(layer.weight.size + layer.bias.size for layer in cnn.layers if layer.weighted)
    assert f"{total:,} parameters" in lines[-1]
    mlp.summary()
    assert "(300,)" in capsys.readouterr().out
    open_size = sl.Network([sl.Conv2d(np.ones((2, 1, 3, 3))), sl.ReLU(), sl.Flatten(),
                            sl.Linear(np.ones((2, 8)))])
    open_size.summary()
    assert "output shapes need summary(input_shape=...)" in capsys.readouterr().out
    open_size.summary(input_shape=(1, 4, 4))
    assert "(2, 2, 2)" in capsys.readouterr().out
