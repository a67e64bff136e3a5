"""Class masks (the paper's section 3.1) and their pictures."""
import numpy as np
import pytest
from matplotlib import image as mpimg

import semiring_lrp as sl
from semiring_lrp.apps import class_mask

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mlp():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def digits():
    """300 shipped MNIST test digits, as model inputs, with their labels."""
    images, labels = sl.datasets.mnist("test")
    return sl.models.mnist_input(images[:300]), labels[:300]


def per_image(net, x, targets, semiring, layer="input"):
    """Each image's relevance on its own, nonzero as True."""
    return np.stack([sl.relevance(net, x[i], target=int(targets[i]), semiring=semiring,
                                  layer=layer) != 0 for i in range(len(x))])


@pytest.mark.parametrize("layer", ["input", "fc2"])
@pytest.mark.parametrize("by", ["label", "prediction", None])
def test_masks_equal_the_images_combined_by_hand(mlp, digits, layer, by):
    x, labels = digits
    semiring = sl.Boolean(1e-9)
    predicted = mlp.forward(x).argmax(axis=1)
    groups = {"label": labels, "prediction": predicted, None: np.zeros_like(labels)}[by]
    targets = labels if by == "label" else predicted
    relevant = per_image(mlp, x, targets, semiring, layer)
    masks = class_mask(mlp, (x, labels), semiring=semiring, combine=("or", "and"), by=by,
                       layer=layer, batch_size=64, progress=False)
    expected_or = np.stack([relevant[groups == k].any(axis=0) for k in range(10)])
    expected_and = np.stack([relevant[groups == k].all(axis=0) for k in range(10)])
    if by is None:
        expected_or, expected_and = expected_or[0], expected_and[0]
    assert masks["or"].dtype == np.bool_ and masks["or"].shape == expected_or.shape
    np.testing.assert_array_equal(masks["or"], expected_or)
    np.testing.assert_array_equal(masks["and"], expected_and)
    # OR is not trivial here (nor AND within a class), and one combine alone
    # gives the same array
    assert expected_or.any() and not expected_or.all()
    assert by is None or expected_and.any()
    np.testing.assert_array_equal(
        class_mask(mlp, (x, labels), semiring=semiring, combine="and", by=by, layer=layer,
                   batch_size=1000, progress=False), expected_and)


def test_counts_of_images_per_class(mlp, digits):
    x, labels = digits
    masks, counts = class_mask(mlp, (x, labels), combine=("or", "and"), return_counts=True,
                               progress=False)
    np.testing.assert_array_equal(counts, np.bincount(labels, minlength=10))
    _, total = class_mask(mlp, (x, labels), by=None, return_counts=True, progress=False)
    assert total == len(x)


def test_any_semiring_counts_nonzero_as_relevant(mlp, digits):
    x, labels = digits
    x, labels = x[:60], labels[:60]
    counting = sl.Counting(1e-9)
    relevant = per_image(mlp, x, labels, counting)
    mask = class_mask(mlp, (x, labels), semiring=counting, progress=False)
    np.testing.assert_array_equal(mask[3], relevant[labels == 3].any(axis=0))
    # a blank pixel has activation 0, so it is never relevant
    blank = (x[labels == 3] == 0).all(axis=0)
    assert not np.any(mask[3] & blank)


def test_two_digit_mask_lies_in_the_upper_half():
    """The paper's figure 3.2: the two-digit model looks at the upper digit,
    which alone decides the label."""
    net = sl.models.two_digit_mlp()
    data = sl.datasets.TwoDigitMNIST("test")[:1000]
    mask = class_mask(net, data, semiring=sl.Boolean(1e-9), combine="or", by=None,
                      batch_size=500, progress=False)
    assert mask.shape == (56, 28)
    upper, lower = int(mask[:28].sum()), int(mask[28:].sum())
    share = upper / (upper + lower)
    print(f"two-digit OR mask over 1000 images: {upper} pixels in the upper half, "
          f"{lower} in the lower, upper share {share:.4f}")
    assert upper > 300
    assert share >= 0.95


def test_bad_arguments(mlp, digits):
    x, labels = digits
    with pytest.raises(ValueError, match="combine must be"):
        class_mask(mlp, (x, labels), combine="xor")
    with pytest.raises(ValueError, match="combine must be"):
        class_mask(mlp, (x, labels), combine=())
    with pytest.raises(ValueError, match="by must be"):
        class_mask(mlp, (x, labels), by="class")
    with pytest.raises(TypeError, match="semiring must be"):
        class_mask(mlp, (x, labels), semiring="boolean")
    with pytest.raises(ValueError, match="no layer is named"):
        class_mask(mlp, (x, labels), layer="fc9", progress=False)


# ---------------------------------------------------------------- pictures

def test_class_masks_picture(tmp_path):
    rng = np.random.default_rng(0)
    masks = {"or": rng.random((10, 28, 28)) > 0.3, "and": rng.random((10, 28, 28)) > 0.9}
    path = tmp_path / "masks.png"
    fig = sl.viz.class_masks(masks, path=path, title="t")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert mpimg.imread(path).shape[1] > 800
    assert len(fig.axes) == 20
    assert fig.axes[0].get_title() == "class 0" and fig.axes[0].get_ylabel() == "OR"
    assert fig.axes[10].get_ylabel() == "AND"
    np.testing.assert_array_equal(fig.axes[13].images[0].get_array(), masks["and"][3])
    # one class, a hidden layer's 1-D mask drawn as a grid, over-all masks side by side
    fig = sl.viz.class_masks({"or": rng.random((10, 300)) > 0.5}, classes=[7])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "class 7"
    assert fig.axes[0].images[0].get_array().shape == (17, 18)  # 300 neurons, rows of 18
    fig = sl.viz.class_masks({"or": masks["or"][0], "and": masks["and"][0]}, per_class=False)
    assert [ax.get_title() for ax in fig.axes] == ["OR", "AND"]
    # a conv net's (C, H, W) masks fold per row: any channel for OR, all for AND
    channels = rng.random((2, 3, 4, 4)) > 0.5
    fig = sl.viz.class_masks({"or": channels, "and": channels})
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), channels[0].any(axis=0))
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), channels[0].all(axis=0))


@pytest.mark.parametrize("masks,kwargs,error,match", [
    ({}, {}, ValueError, "empty"),
    ({"or": np.zeros((2, 3, 3)), "and": np.zeros((3, 3, 3))}, {}, ValueError, "different"),
    ({"or": np.zeros((2, 3, 3))}, {"classes": [2]}, ValueError, "out of range"),
    ({"or": np.zeros((2, 3, 3))}, {"classes": []}, ValueError, "nothing to draw"),
    ({"or": np.zeros((2, 1, 1, 3, 3))}, {}, ValueError, "1-D"),
    ({"or": np.array([["a"]])}, {"per_class": False}, TypeError, "booleans or numbers"),
])
def test_class_masks_rejects_bad_input(masks, kwargs, error, match):
    with pytest.raises(error, match=match):
        sl.viz.class_masks(masks, **kwargs)
