"""The PyTorch bridge: `to_torch` (a Network back to nn.Sequential),
`semiring_lrp.torch.gradient_lrp` (classical LRP by autograd) against
`relevance(init="activation")` and the literal NumPy reference, torch
tensors in and out, and `net(x)`."""
import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torchvision
from reference import literal_relevance, relative_error

import semiring_lrp as sl
from semiring_lrp import composites, rules
from semiring_lrp.inputs import tensor_like
from semiring_lrp.torch import gradient_lrp, to_torch, torch_names

nn = torch.nn

#: float64 is exact up to summation order; float32 differs by rounding
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-4}


def _randomised_biases(model, seed):
    """Biases of both signs and a size that matters (torch starts them small)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.1)
    return model


def _mlp_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 15), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(15, 6))


def _cnn_model():
    """stride, padding, dilation, groups, BatchNorm (folded), max pooling."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, (3, 2), padding=(2, 1), dilation=2, groups=2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 3, 5))
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.1, 0.1)
        model[1].running_var.uniform_(0.5, 2.0)
    return model


def _pool_model():
    """every average pooling setting, adaptive pooling with an open axis."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.Conv2d(4, 6, 2), nn.ReLU(), nn.AvgPool2d(2, stride=1, divisor_override=3),
        nn.MaxPool2d(3, stride=1, padding=1), nn.AdaptiveAvgPool2d((2, None)),
        nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(6 * 3 * 3, 4))


MODELS = {"mlp": (_mlp_model, (4, 5)), "cnn": (_cnn_model, (3, 15, 13)),
          "pools": (_pool_model, (3, 11, 10))}


@pytest.fixture(scope="module")
def vgg16():
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).eval()


@pytest.fixture(scope="module")
def vgg16_net(vgg16):
    return sl.from_torch(vgg16).astype(np.float64)


def _vgg_image(size, dtype):
    """A random image in [0, 1], ImageNet-normalised, (1, 3, size, size)."""
    pixels = np.random.default_rng(0).uniform(0, 1, size=(1, 3, size, size))
    mean = composites.IMAGENET_MEAN.reshape(3, 1, 1)
    std = composites.IMAGENET_STD.reshape(3, 1, 1)
    return ((pixels - mean) / std).astype(dtype)


# --- to_torch ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_through_a_network_keeps_the_outputs(name, dtype):
    make, shape = MODELS[name]
    model = _randomised_biases(make(), 0).to(dtype).eval()
    back = to_torch(sl.from_torch(model))
    x = torch.rand((3,) + shape, dtype=dtype)
    with torch.no_grad():
        want, got = model(x), back(x)
    assert got.dtype == dtype and got.shape == want.shape
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol)


def test_round_trip_of_torchvision_vgg16(vgg16):
    back = to_torch(sl.from_torch(vgg16))
    x = torch.from_numpy(_vgg_image(64, np.float32))
    with torch.no_grad():
        torch.testing.assert_close(back(x), vgg16(x), rtol=1e-5, atol=1e-6)
    assert list(back.named_children())[0][0] == "features_0"
    assert [name for name, _ in back.named_children()][31:34] == ["avgpool", "flatten",
                                                                   "classifier_0"]


@pytest.mark.parametrize("make", [sl.models.mnist_mlp, sl.models.mnist_cnn])
def test_network_through_torch_keeps_its_forward_and_weights(make, digits):
    net = make(np.float64)
    x = digits[0][:5].astype(np.float64)
    x = x if net.flattens_input else x[:, None]
    again = sl.from_torch(to_torch(net), input_shape=net.input_shape)
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    for mine, theirs in zip(net.layers, again.layers):
        assert type(mine) is type(theirs)
        if mine.weighted:
            np.testing.assert_array_equal(mine.weight, theirs.weight)
            np.testing.assert_array_equal(mine.bias, theirs.bias)
            assert mine.config() == theirs.config()
    assert again.names == net.names


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_torch_module_state(cnn, dtype):
    net = cnn.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable array" warning
        model = to_torch(net)
    assert isinstance(model, nn.Sequential) and not model.training
    assert [name for name, _ in model.named_children()] == list(net.names)
    want = torch.float64 if dtype == np.float64 else torch.float32
    assert {p.dtype for p in model.parameters()} == {want}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.pool1.kernel_size == (2, 2) and model.conv1.padding == (1, 1)
    # the parameters are copies: changing them leaves the network as it was
    before = net.layers[0].weight.copy()
    with torch.no_grad():
        model.conv1.weight.add_(1.0)
    np.testing.assert_array_equal(net.layers[0].weight, before)


def test_pool_settings_reach_torch():
    model = to_torch(sl.from_torch(_pool_model()))
    assert model[2].count_include_pad is False and model[2].ceil_mode is True
    assert model[2].padding == (1, 1) and model[2].stride == (2, 2)
    assert model[5].divisor_override == 3
    assert model[7].output_size == (2, None) and model[8].output_size == (3, 3)


def test_torch_names_map_what_torch_refuses():
    assert torch_names(["features.0", "features_0", "forward", "fc1"]) == [
        "features_0", "features_0_1", "forward_2", "fc1"]
    net = sl.Network([sl.Flatten(), sl.Linear(np.eye(3)), sl.ReLU()], input_shape=(3,),
                     names=["a.b", "training", "a_b"])
    assert [name for name, _ in to_torch(net).named_children()] == ["a_b", "training_1",
                                                                    "a_b_2"]


def test_to_torch_refuses_what_is_not_a_network():
    with pytest.raises(TypeError, match="to_torch needs a semiring_lrp.Network, not Sequential"):
        to_torch(nn.Sequential(nn.Linear(2, 2)))


def test_network_is_callable(mlp, digits):
    x = digits[0][:3]
    np.testing.assert_array_equal(mlp(x), mlp.forward(x))
    np.testing.assert_array_equal(mlp(x[0]), mlp.forward(x)[0])
    np.testing.assert_array_equal(mlp(torch.from_numpy(x)), mlp.forward(x))


# --- gradient_lrp against relevance -----------------------------------------

def _rule_cases(net, x):
    """name -> rule argument, for every rule, per-layer lists and dicts and
    the composites that fit any network."""
    count = len(net.weighted_layers)
    low, high = np.zeros(x.shape[1:]), np.ones(x.shape[1:])
    names = [net.names[i] for i in net.weighted_layers]
    return {
        "zero": rules.Zero(),
        "epsilon": rules.Epsilon(0.1),
        "epsilon-plus-relative": rules.Epsilon(0.25, variant="plus", relative=True),
        "gamma": rules.Gamma(0.25),
        "gamma-eps": rules.Gamma(0.5, eps=1e-3),
        "zbox": [rules.ZBox(low, high)] + [rules.Zero()] * (count - 1),
        "list": [rules.ZBox(-1.0, 2.0, eps=1e-6)] + [rules.Gamma(0.25)] * (count - 2)
                + [rules.Epsilon(0.01)],
        "dict": dict(zip(names, [rules.Gamma(0.1)] * (count - 1) + [rules.Epsilon(0.5)])),
        "epsilon_gamma_box": composites.epsilon_gamma_box(net, low, high),
    }


def _shipped_case(name, dtype, digits):
    net = getattr(sl.models, name)(dtype)
    x = digits[0][:4].astype(dtype)
    return net, (x if net.flattens_input else x[:, None]), np.array([3, 1, 4, 1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", ["mnist_mlp", "mnist_cnn"])
def test_gradient_lrp_equals_relevance_on_the_shipped_models(model, dtype, digits):
    net, x, targets = _shipped_case(model, dtype, digits)
    for case, rule in _rule_cases(net, x).items():
        got = gradient_lrp(net, x, targets, rule=rule)
        want = sl.relevance(net, x, target=targets, rule=rule, init="activation")
        assert got.dtype == want.dtype == dtype and got.shape == x.shape, case
        assert np.abs(want).max() > 0, case
        assert relative_error(got, want) < TOLERANCE[dtype], case


@pytest.mark.parametrize("maxpool", ["winner", "average"])
def test_gradient_lrp_pools_as_relevance(cnn, digits, maxpool):
    net = cnn.astype(np.float64)
    x = digits[0][:3, None].astype(np.float64)
    for init in ("activation", "one"):
        got = gradient_lrp(net, x, rule=rules.Gamma(0.25), init=init, maxpool=maxpool)
        want = sl.relevance(net, x, rule=rules.Gamma(0.25), init=init, maxpool=maxpool)
        assert relative_error(got, want) < 1e-12


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_lrp_on_a_torch_model(name):
    make, shape = MODELS[name]
    model = _randomised_biases(make(), 1).double().eval()
    x = torch.rand((3,) + shape, dtype=torch.float64)
    net = sl.from_torch(model)
    rule = {net.names[i]: rules.Gamma(0.25) for i in net.weighted_layers}
    got = gradient_lrp(model, x, rule=rule)
    want = sl.relevance(net, x, rule=rule, init="activation")
    assert relative_error(got, want) < 1e-12
    # the model is left as it was: no gradients kept, no flags changed
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name,make", [("strided", MODELS["cnn"][0]),
                                       ("pooled", _pool_model)])
def test_gradient_lrp_equals_the_literal_reference(name, make):
    model = _randomised_biases(make(), 2).double().eval()
    if name == "pooled":  # the literal reference knows count_include_pad=True pools only
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                              nn.Conv2d(4, 6, 2), nn.ReLU(), nn.MaxPool2d(3, 1, 1),
                              nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(),
                              nn.Linear(36, 4)).double()
        model = _randomised_biases(model, 2).eval()
        shape = (3, 11, 10)
    else:
        shape = MODELS["cnn"][1]
    net = sl.from_torch(model)
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, size=(2,) + shape)
    targets = np.array([1, 3])
    count = len(net.weighted_layers)
    for rule_list in ([rules.Zero()] * count,
                      [rules.ZBox(0.0, 1.0)] + [rules.Gamma(0.25)] * (count - 2)
                      + [rules.Epsilon(0.05, variant="plus")]):
        for maxpool in ("winner", "average"):
            got = gradient_lrp(net, x, targets, rule=rule_list, maxpool=maxpool)
            want = literal_relevance(net, x, targets, "real", rule_list, init="activation",
                                     maxpool=maxpool)
            assert relative_error(got, want) < 1e-10


def test_gradient_lrp_on_vgg16_with_the_overview_recipe(vgg16_net):
    x = _vgg_image(64, np.float64)
    composite = composites.lrp_overview_vgg16(vgg16_net)
    got = gradient_lrp(vgg16_net, x, composite=composites.lrp_overview_vgg16)
    want = sl.relevance(vgg16_net, x, rule=composite, init="activation")
    assert composite.maxpool == "average" and np.abs(want).max() > 0
    assert relative_error(got, want) < 1e-12


def test_gradient_lrp_on_torchvision_vgg16_with_epsilon_gamma_box(vgg16):
    x = torch.from_numpy(_vgg_image(64, np.float32))
    low, high = composites.imagenet_bounds()
    box = functools.partial(composites.epsilon_gamma_box, low=low, high=high)
    got = gradient_lrp(vgg16, x, target=7, composite=box)
    net = sl.from_torch(vgg16)
    want = sl.relevance(net, x, target=7, rule=box(net), init="activation")
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert relative_error(got.numpy(), want.numpy()) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("case", ["zero", "epsilon", "gamma", "zbox-first",
                                  "epsilon_gamma_box", "overview"])
def test_gradient_lrp_on_vgg16_at_224(vgg16_net, case):
    x = _vgg_image(224, np.float64)
    low, high = composites.imagenet_bounds()
    rule = {"zero": rules.Zero(), "epsilon": rules.Epsilon(0.1), "gamma": rules.Gamma(0.25),
            "zbox-first": [rules.ZBox(low, high)] + [rules.Zero()] * 15,
            "epsilon_gamma_box": composites.epsilon_gamma_box(vgg16_net, low, high),
            "overview": composites.lrp_overview_vgg16(vgg16_net)}[case]
    got = gradient_lrp(vgg16_net, x, rule=rule)
    want = sl.relevance(vgg16_net, x, rule=rule, init="activation")
    assert np.abs(want).max() > 0
    assert relative_error(got, want) < 1e-12


# --- tensors in, tensors out ------------------------------------------------

def test_gradient_lrp_gives_tensors_for_tensors(mlp, digits):
    x = digits[0][:3]
    got = gradient_lrp(mlp, torch.from_numpy(x), target=2)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert got.shape == (3, 28, 28) and got.device.type == "cpu" and not got.requires_grad
    as_array = gradient_lrp(mlp, x, target=2)
    assert isinstance(as_array, np.ndarray) and as_array.shape == (3, 28, 28)
    np.testing.assert_array_equal(got.numpy(), as_array)
    # one sample keeps its shape
    assert gradient_lrp(mlp, torch.from_numpy(x[0]), target=2).shape == (28, 28)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gradient_lrp_reads_half_precision_as_float32(mlp, digits, dtype):
    x = torch.from_numpy(digits[0][:2]).to(dtype)
    got = gradient_lrp(mlp, x, target=5)
    assert got.dtype == torch.float32  # the network's dtype, which holds x exactly
    torch.testing.assert_close(got, gradient_lrp(mlp, x.float(), target=5), rtol=0, atol=0)


def test_gradient_lrp_works_without_grad_and_in_inference_mode(mlp, digits):
    x = torch.from_numpy(digits[0][:2])
    want = gradient_lrp(mlp, x)
    with torch.no_grad():
        torch.testing.assert_close(gradient_lrp(mlp, x), want, rtol=0, atol=0)
    with torch.inference_mode():
        torch.testing.assert_close(gradient_lrp(mlp, x), want, rtol=0, atol=0)


def test_relevance_gives_tensors_for_tensors(cnn, digits):
    x = torch.from_numpy(digits[0][:2, None])
    r = sl.relevance(cnn, x, rule=rules.Gamma(0.25))
    assert isinstance(r, torch.Tensor) and r.dtype == torch.float32 and r.shape == x.shape
    np.testing.assert_array_equal(r.numpy(), sl.relevance(cnn, x.numpy(),
                                                          rule=rules.Gamma(0.25)))
    boolean = sl.relevance(cnn, x, semiring=sl.Boolean(1e-9))
    counting = sl.relevance(cnn, x, semiring=sl.Counting(1e-9))
    assert boolean.dtype == torch.bool and counting.dtype == torch.int64
    hidden = sl.relevance(cnn, x, layer="fc1")
    assert isinstance(hidden, torch.Tensor) and hidden.shape == (2, 1568)


def test_relevance_tensors_share_the_results_memory(cnn, digits):
    x = torch.from_numpy(digits[0][0, None])
    r, layers = sl.relevance(cnn, x, return_all=True)
    assert isinstance(r, torch.Tensor) and all(isinstance(a, torch.Tensor) for a in layers)
    assert layers["fc1"] is layers[11] and layers["output"].shape == (10,)
    # entry "input" is the result itself: the two tensors are views of one array
    assert np.shares_memory(r.numpy(), layers["input"].numpy())


def test_tensor_like_shares_memory_or_copies_what_torch_cannot_take():
    x = torch.zeros(1)
    array = np.arange(6.0).reshape(2, 3)
    assert np.shares_memory(tensor_like(x, array).numpy(), array)
    for awkward in (array[:, ::-1], np.broadcast_to(array[0], (4, 3))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tensor = tensor_like(x, awkward)
        np.testing.assert_array_equal(tensor.numpy(), awkward)
    objects = np.array([2**70, 1], dtype=object)
    assert tensor_like(x, objects) is objects


# --- bad input --------------------------------------------------------------

def test_gradient_lrp_names_bad_arguments(mlp, digits):
    x = digits[0][:2]
    with pytest.raises(TypeError, match="model must be a torch.nn.Module or a "
                                        "semiring_lrp.Network, not list"):
        gradient_lrp([1, 2], x)
    with pytest.raises(TypeError, match=r"unsupported layer 1: Tanh\(\)"):
        gradient_lrp(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)),
                     np.ones((1, 4)))
    with pytest.raises(TypeError, match="linear.weight has dtype torch.bfloat16"):
        gradient_lrp(nn.Linear(4, 3).to(torch.bfloat16), np.ones((1, 4)))
    with pytest.raises(ValueError, match="give rule or composite, not both"):
        gradient_lrp(mlp, x, rule=rules.Zero(), composite=composites.lrp_overview_vgg16)
    with pytest.raises(ValueError, match="this preset is for VGG-16"):
        gradient_lrp(mlp, x, composite=composites.lrp_overview_vgg16)
    with pytest.raises(TypeError, match="composite must be a composites.Composite"):
        gradient_lrp(mlp, x, composite="lrp_overview_vgg16")
    with pytest.raises(ValueError, match="no layer is named 'fc9'"):
        gradient_lrp(mlp, x, rule={"fc9": rules.Zero()})
    with pytest.raises(ValueError, match="init must be 'one' or 'activation'"):
        gradient_lrp(mlp, x, init="ones")
    with pytest.raises(ValueError, match="target 10 is out of range for 10 classes"):
        gradient_lrp(mlp, x, target=10)
    with pytest.raises(ValueError, match="x is a 'meta' tensor"):
        gradient_lrp(mlp, torch.empty(2, 28, 28, device="meta"))
    with pytest.raises(ValueError, match=r"x has shape \(2, 27, 28\)"):
        gradient_lrp(mlp, np.zeros((2, 27, 28)))


def test_semiring_lrp_torch_finds_pytorch_itself():
    """semiring_lrp/torch.py does not hide PyTorch: not from the package's
    own modules, not from a user importing both; importing the package
    still imports no torch."""
    script = ("import sys\n"
              "import semiring_lrp as sl\n"
              "assert 'torch' not in sys.modules\n"
              "import semiring_lrp.torch\n"
              "from semiring_lrp import torch_import, inputs\n"
              "assert 'torch' not in sys.modules\n"
              "import torch\n"
              "assert torch.__name__ == 'torch' and hasattr(torch, 'nn'), torch\n"
              "assert sl.torch is semiring_lrp.torch and sl.to_torch is sl.torch.to_torch\n"
              "sl.from_torch(torch.nn.Linear(2, 2))\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
