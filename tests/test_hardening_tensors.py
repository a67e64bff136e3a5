"""Torch tensors reach NumPy through `inputs.from_tensor`: dtypes NumPy
lacks are read as float32, tensors without readable values are refused
with a ValueError naming the input, file or layer."""
import numpy as np
import pytest
import torch

import semiring_lrp as sl


def from_tensor(tensor):
    from semiring_lrp.inputs import from_tensor

    return from_tensor(tensor)


NO_NUMPY_DTYPE = [torch.bfloat16, torch.float8_e4m3fn, torch.float8_e4m3fnuz,
                  torch.float8_e5m2, torch.float8_e5m2fnuz]


@pytest.fixture(scope="module")
def x(digits):
    return digits[0][:2]


@pytest.mark.parametrize("dtype", NO_NUMPY_DTYPE + [torch.float16])
def test_low_precision_floats_are_read_exactly(mlp, x, dtype):
    tensor = torch.tensor(x).to(dtype)
    exact = tensor.to(torch.float64).numpy()  # each of these dtypes is a subset of float32
    np.testing.assert_array_equal(from_tensor(tensor).astype(np.float64), exact)
    np.testing.assert_array_equal(sl.relevance(mlp, tensor, target=3),
                                  sl.relevance(mlp, exact.astype(np.float32), target=3))


def test_float8_e8m0_is_read_exactly():
    tensor = torch.tensor([0.25, 1.0, 8.0]).to(torch.float8_e8m0fnu)
    np.testing.assert_array_equal(from_tensor(tensor), [0.25, 1.0, 8.0])


def test_ordinary_cpu_tensors_are_not_copied():
    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert np.shares_memory(from_tensor(tensor), tensor.numpy())
    assert np.shares_memory(sl.inputs.as_array(tensor), tensor.numpy())


def test_a_tensor_with_the_negative_bit_is_read():
    tensor = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64).conj().imag
    np.testing.assert_array_equal(from_tensor(tensor), [-2, 4])


@pytest.mark.parametrize("make,match", [
    (lambda x: torch.empty(x.shape, device="meta"), "x is a 'meta' tensor"),
    (lambda x: torch.tensor(x).to_sparse(), "x is a torch.sparse_coo tensor"),
    (lambda x: torch.tensor(x).reshape(2, -1).to_sparse_csr(), "x is a torch.sparse_csr"),
    (lambda x: torch.quantize_per_tensor(torch.tensor(x), 0.1, 0, torch.quint8),
     "x is a quantized tensor"),
])
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_tensors_without_plain_values_are_refused(mlp, x, make, match):
    with pytest.raises(ValueError, match=match):
        sl.relevance(mlp, make(x))


@pytest.mark.parametrize("dtype,match", [
    (torch.complex64, "x must hold real numbers"),
    (torch.bits8, "x has dtype torch.bits8"),
    (torch.float4_e2m1fn_x2, "x has dtype torch.float4_e2m1fn_x2"),
])
def test_tensors_numpy_cannot_hold_raise_type_error(mlp, x, dtype, match):
    if dtype.is_complex:
        tensor = torch.tensor(x, dtype=dtype)
    else:  # one-byte dtypes torch cannot fill from floats
        tensor = torch.zeros(x.shape, dtype=torch.uint8).view(dtype)
    with pytest.raises(TypeError, match=match):
        sl.relevance(mlp, tensor)


def test_meta_target_and_bounds_are_named(mlp, x):
    with pytest.raises(ValueError, match="target is a 'meta' tensor"):
        sl.relevance(mlp, x, target=torch.empty(2, dtype=torch.int64, device="meta"))
    with pytest.raises(ValueError, match="ZBox low is a 'meta' tensor"):
        sl.rules.ZBox(torch.empty(1, device="meta"), 1.0)


def test_bfloat16_rule_bounds_and_masks_are_read():
    rule = sl.rules.ZBox(torch.tensor([-1.5], dtype=torch.bfloat16), 2.0)
    np.testing.assert_array_equal(rule.low, [-1.5])
    layer = sl.Linear(torch.ones(2, 3, dtype=torch.bfloat16))
    assert layer.weight.dtype == np.float32
    with pytest.raises(ValueError, match="Linear weight is a 'meta' tensor"):
        sl.Linear(torch.ones(2, 3, device="meta"))


@pytest.mark.parametrize("tensor,match", [
    (torch.ones(3, 4, device="meta"), r"fc\.weight is a 'meta' tensor"),
    (torch.ones(3, 4, dtype=torch.bfloat16), r"fc\.weight has dtype torch\.bfloat16; "
                                             "convert the model"),
    (torch.ones(3, 4).to(torch.float8_e5m2), r"fc\.weight has dtype torch\.float8_e5m2"),
])
def test_load_names_the_file_and_key_of_a_bad_tensor(tmp_path, tensor, match):
    path = tmp_path / "state.pt"
    torch.save({"fc.weight": tensor, "fc.bias": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=f"^{str(path)}: {match}"):
        sl.load(path)


def test_vgg16_names_the_file_and_key_of_a_meta_tensor(tmp_path):
    """Every name and shape of VGG-16, as meta tensors: the file passes the
    check of names and shapes, and its first tensor is named."""
    path = tmp_path / "vgg.pt"
    torch.save({name: torch.ones(shape, device="meta")
                for name, shape in sl.models._vgg_parameters("vgg16").items()}, path)
    with pytest.raises(ValueError, match=rf"^{str(path)}: features\.0\.weight is a 'meta'"):
        sl.models.vgg16(path)


def test_from_torch_names_the_parameter():
    meta = torch.nn.Sequential(torch.nn.Linear(4, 3, device="meta"))
    with pytest.raises(ValueError, match=r"^0\.weight is a 'meta' tensor"):
        sl.from_torch(meta)
    with pytest.raises(TypeError, match=r"^0\.weight has dtype torch\.bfloat16; convert"):
        sl.from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3)).to(torch.bfloat16))
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)).eval()
    bn[1].running_var = torch.ones(2, device="meta")
    with pytest.raises(ValueError, match=r"^1\.running_var is a 'meta' tensor"):
        sl.from_torch(bn)


def test_bfloat16_batchnorm_statistics_fold_exactly():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)).eval()
    model[1].running_mean = torch.tensor([0.5, -0.25])
    reference = sl.from_torch(model)
    model[1].running_mean = model[1].running_mean.to(torch.bfloat16)  # 0.5, -0.25 exact
    folded = sl.from_torch(model)
    np.testing.assert_array_equal(folded.layers[0].bias, reference.layers[0].bias)


def _meta(shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype, device="meta")


@pytest.mark.parametrize("call,match", [
    (lambda net, data: sl.images.aggregate_channels(_meta((3, 4, 4)), "sum"), "^relevance is"),
    (lambda net, data: sl.images.imagenet_input(_meta((8, 8, 3))), "^image is"),
    (lambda net, data: sl.models.mnist_input(_meta((2, 28, 28), torch.uint8)), "^images is"),
    (lambda net, data: net.masked("fc1", _meta(2, torch.int64)), "^neurons is"),
    (lambda net, data: sl.viz.heatmap(_meta((28, 28)), np.zeros((28, 28)), "real"),
     "^image is"),
    (lambda net, data: sl.viz.class_masks({"or": _meta((10, 28, 28), torch.bool)}),
     "^mask 'or' is"),
    (lambda net, data: sl.apps.pruning_curve(net, _meta(300), "fc1", data), "^scores is"),
    (lambda net, data: sl.datasets.ArrayDataset(_meta((2, 28, 28))), "^x is"),
])
def test_every_array_argument_names_a_meta_tensor(mlp, digits, call, match):
    data = (digits[0][:2], digits[1][:2])
    with pytest.raises(ValueError, match=match + " a 'meta' tensor"):
        call(mlp, data)


def test_every_array_argument_reads_bfloat16(mlp, digits):
    relevance = torch.ones(3, 4, 4, dtype=torch.bfloat16)
    np.testing.assert_array_equal(sl.images.aggregate_channels(relevance, "sum"),
                                  np.full((4, 4), 3.0))
    masked = mlp.masked("fc1", torch.tensor([0, 1]))
    assert not masked.layers[mlp.layer_index("fc1")].weight[:2].any()
