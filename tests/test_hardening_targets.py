"""Class indices (targets, labels, neuron indices) outside their range are
reported with their own value, whatever integer type holds them; bools,
floats and non-numbers are refused as class indices."""
import numpy as np
import pytest
import torch

import semiring_lrp as sl
from semiring_lrp import apps

HUGE = [
    (np.uint64(2**64 - 1), "18446744073709551615"),
    (2**70, "1180591620717411303424"),
    (-2**70, "-1180591620717411303424"),
    (np.int64(-2**63), "-9223372036854775808"),
    (np.uint32(2**32 - 1), "4294967295"),
    (np.int8(-3), "-3"),
    (10, "10"),
]


@pytest.fixture(scope="module")
def batch(mlp, digits):
    x, labels = digits
    return x[:3], labels[:3]


@pytest.mark.parametrize("target,shown", HUGE)
def test_relevance_names_the_target_as_given(mlp, batch, target, shown):
    with pytest.raises(ValueError, match=rf"^target {shown} is out of range for 10 classes"):
        sl.relevance(mlp, batch[0], target=target)


@pytest.mark.parametrize("target,shown", HUGE)
def test_a_target_per_sample_is_named_as_given(mlp, batch, target, shown):
    per_sample = [1, target, 2]
    if isinstance(target, np.generic):
        per_sample = np.array(per_sample, dtype=target.dtype)
    with pytest.raises(ValueError, match=rf"^target {shown} is out of range"):
        sl.relevance(mlp, batch[0], target=per_sample)


def test_a_torch_target_is_named_as_given(mlp, batch):
    target = torch.tensor([1, 2**64 - 1, 2], dtype=torch.uint64)
    with pytest.raises(ValueError, match="^target 18446744073709551615 is out of range"):
        sl.relevance(mlp, batch[0], target=target)


@pytest.mark.parametrize("target", [True, np.bool_(False), [True, False, True], 1.0,
                                    np.float32(2), [1.0, 2.0, 3.0], "3", None.__class__, 1j])
def test_non_integer_targets_are_refused(mlp, batch, target):
    with pytest.raises(TypeError, match="target must be an integer class index"):
        sl.relevance(mlp, batch[0], target=target)


def test_valid_targets_of_every_integer_type_agree(mlp, batch):
    want = sl.relevance(mlp, batch[0], target=4)
    for target in [np.uint64(4), np.int8(4), 4, [4, 4, 4], np.full(3, 4, np.uint64),
                   torch.tensor(4), np.array([4, 4, 4], dtype=object)]:
        np.testing.assert_array_equal(sl.relevance(mlp, batch[0], target=target), want)


@pytest.mark.parametrize("target,shown", HUGE[:3])
def test_applications_name_the_target_as_given(mlp, batch, target, shown):
    for call in (
            lambda: apps.reduce_relevance(mlp, batch, target=target, progress=False),
            lambda: apps.class_mask(mlp, batch, target=target, progress=False),
            lambda: apps.pixel_flipping(mlp, batch, sl.Real(), target=target),
            lambda: apps.attack_curve(mlp, batch, sl.Real(), target=target)):
        with pytest.raises(ValueError, match=rf"^target {shown} is out of range"):
            call()


@pytest.mark.parametrize("labels,shown", [
    (np.array([1, 2**64 - 1, 2], dtype=np.uint64), "18446744073709551615"),
    (np.array([1, 2**70, 2], dtype=object), "1180591620717411303424"),
])
def test_labels_beyond_int64_are_named_not_wrapped(batch, labels, shown):
    with pytest.raises(ValueError, match=f"^label {shown} \\(index 1\\) is beyond int64"):
        sl.datasets.ArrayDataset(batch[0], labels)
    with pytest.raises(ValueError, match=f"^label {shown} "):
        apps.reduce_relevance(sl.models.mnist_mlp(), (batch[0], labels), target="label",
                              progress=False)


def test_uint64_labels_in_range_still_read(mlp, batch):
    labels = batch[1].astype(np.uint64)
    _, got = sl.datasets.ArrayDataset(batch[0], labels).load(0, 3)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, batch[1])


def test_masked_names_a_neuron_index_as_given(mlp):
    with pytest.raises(ValueError, match="^neuron index 18446744073709551615 is out of range"):
        mlp.masked("fc1", np.array([2**64 - 1], dtype=np.uint64))


def test_class_indices_keep_empty_and_nested_shapes():
    from semiring_lrp.inputs import class_indices

    assert class_indices([], 10).shape == (0,)
    np.testing.assert_array_equal(class_indices([[1, 2]], 10), [[1, 2]])
