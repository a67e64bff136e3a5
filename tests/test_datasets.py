"""sl.datasets: the shipped MNIST test split, the training split from a
folder, the two-digit set, and the Dataset objects."""
import gzip
import pickle
import struct

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import datasets
from semiring_lrp.idx import read_idx

SHIPPED_DIR = datasets._SHIPPED_DIR
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
STANDARD_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_split(root, images, labels, prefix="train"):
    """An MNIST split of hand-made uint8 images (n, 28, 28) and labels as
    IDX files in root, the images gzip-compressed and the labels not."""
    root.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", *images.shape)
    (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + images.tobytes()))
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels))
    (root / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())


def small_split(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8))


# --- mnist ---------------------------------------------------------------------

def test_shipped_test_split():
    images, labels = sl.datasets.mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert np.array_equal(np.unique(labels), np.arange(10))
    assert not images.flags.writeable and not labels.flags.writeable
    again = sl.datasets.mnist()
    assert again[0] is images and again[1] is labels  # read once per process


def test_shipped_split_is_read_without_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMIRING_LRP_MNIST", str(tmp_path))  # an empty folder
    assert sl.datasets.mnist("test")[0].shape == (10000, 28, 28)
    monkeypatch.delenv("SEMIRING_LRP_MNIST")
    assert sl.datasets.mnist("test")[0].shape == (10000, 28, 28)


def test_shipped_files_are_the_originals(mnist_dir):
    for name in TEST_FILES:
        assert (SHIPPED_DIR / name).read_bytes() == (mnist_dir / name).read_bytes(), name
    images, labels = sl.datasets.mnist("test")
    np.testing.assert_array_equal(images, read_idx(mnist_dir / TEST_FILES[0]))
    np.testing.assert_array_equal(labels, read_idx(mnist_dir / TEST_FILES[1]))


def test_training_split_by_root_and_by_environment_variable(mnist_dir, monkeypatch):
    images, labels = sl.datasets.mnist("train", root=mnist_dir)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert labels.dtype == np.int64
    monkeypatch.setenv("SEMIRING_LRP_MNIST", str(mnist_dir))
    by_env = sl.datasets.mnist("train")
    assert by_env[0] is images and by_env[1] is labels
    data = sl.datasets.MNIST("train")
    assert len(data) == 60000 and data.root == str(mnist_dir.resolve())


def test_test_split_from_a_folder(tmp_path):
    images, labels = small_split(3)
    write_split(tmp_path, images, labels, prefix="t10k")
    got_images, got_labels = sl.datasets.mnist("test", root=tmp_path)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.int64 and got_labels.tolist() == labels.tolist()


def test_files_changed_on_disk_are_read_again(tmp_path):
    write_split(tmp_path, *small_split(3))
    assert len(sl.datasets.mnist("train", root=tmp_path)[0]) == 3
    write_split(tmp_path, *small_split(5))
    assert len(sl.datasets.mnist("train", root=tmp_path)[0]) == 5
    # the new reading replaced the old one in the cache
    folder = str(tmp_path.resolve())
    assert sum(key[0].startswith(folder) for key in datasets._mnist_cache) == 1


def test_missing_folder_names_the_files(tmp_path):
    absent = tmp_path / "absent"
    with pytest.raises(FileNotFoundError) as error:
        sl.datasets.mnist("train", root=absent)
    message = str(error.value)
    for text in (str(absent), "no such folder", "root=", "SEMIRING_LRP_MNIST", ".gz",
                 *STANDARD_NAMES):
        assert text in message, text


def test_missing_labels_file_is_named(tmp_path):
    write_split(tmp_path, *small_split(2))
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte\(\.gz\) missing"):
        sl.datasets.mnist("train", root=tmp_path)


def test_training_split_without_root_or_variable(monkeypatch):
    monkeypatch.delenv("SEMIRING_LRP_MNIST", raising=False)
    for make in (sl.datasets.mnist, sl.datasets.MNIST, sl.datasets.two_digit_mnist):
        with pytest.raises(FileNotFoundError, match="SEMIRING_LRP_MNIST is not set") as error:
            make("train")
        assert all(name in str(error.value) for name in STANDARD_NAMES)


def test_variable_naming_a_wrong_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMIRING_LRP_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="named by SEMIRING_LRP_MNIST"):
        sl.datasets.mnist("train")


@pytest.mark.parametrize("split", ["validation", "Test", None])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        sl.datasets.mnist(split)
    with pytest.raises(ValueError, match="split"):
        sl.datasets.MNIST(split)


# --- two-digit MNIST ---------------------------------------------------------------

def test_two_digit_set_follows_its_definition():
    images, labels = sl.datasets.two_digit_mnist("test", seed=0)
    assert images.shape == (10000, 56, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    source, source_labels = sl.datasets.mnist("test")
    rng = np.random.default_rng(0)
    upper, lower = rng.permutation(10000), rng.permutation(10000)
    for i in (0, 1, 4321, 9999):
        np.testing.assert_array_equal(images[i, :28], source[upper[i]])
        np.testing.assert_array_equal(images[i, 28:], source[lower[i]])
    np.testing.assert_array_equal(labels, source_labels[upper])
    assert images.flags.writeable


def test_two_digit_labels_are_the_upper_digits():
    images, labels = sl.datasets.two_digit_mnist("test", seed=3)
    source, source_labels = sl.datasets.mnist("test")
    # each upper half is a source digit carrying that digit's label
    index = {bytes(image): i for i, image in enumerate(source)}
    for i in range(0, 10000, 997):
        assert labels[i] == source_labels[index[bytes(images[i, :28])]]


def test_two_digit_set_is_reproducible_per_seed():
    a, la = sl.datasets.two_digit_mnist(seed=5)
    b, lb = sl.datasets.two_digit_mnist(seed=5)
    c, _ = sl.datasets.two_digit_mnist(seed=6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [1.0, "0", True, None])
def test_two_digit_seed_must_be_an_int(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        sl.datasets.two_digit_mnist(seed=seed)
    with pytest.raises(TypeError, match="seed must be an int"):
        sl.datasets.TwoDigitMNIST(seed=seed)


def test_two_digit_seed_must_not_be_negative():
    with pytest.raises(ValueError, match="seed"):
        sl.datasets.two_digit_mnist(seed=-1)
    assert sl.datasets.two_digit_mnist(seed=np.int64(2))[0].shape == (10000, 56, 28)


def test_two_digit_training_set(mnist_dir):
    images, labels = sl.datasets.two_digit_mnist("train", root=mnist_dir)
    assert images.shape == (60000, 56, 28) and labels.shape == (60000,)


# --- Dataset objects ----------------------------------------------------------------

def test_mnist_dataset_loads_model_inputs():
    data = sl.datasets.MNIST("test")
    assert len(data) == 10000 and data.sample_shape == (28, 28) and data.has_labels
    assert data.root == "shipped"
    x, labels = data.load(100, 164)
    images, all_labels = sl.datasets.mnist("test")
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (64, 28, 28)
    np.testing.assert_array_equal(x, sl.models.mnist_input(images[100:164]))
    assert labels.dtype == np.int64 and labels.flags.writeable
    np.testing.assert_array_equal(labels, all_labels[100:164])


def test_two_digit_dataset_loads_its_range():
    data = sl.datasets.TwoDigitMNIST("test", seed=4)
    assert len(data) == 10000 and data.sample_shape == (56, 28) and data.has_labels
    images, labels = sl.datasets.two_digit_mnist("test", seed=4)
    x, got = data.load(9990, 10000)
    assert x.dtype == np.float32 and x.flags.c_contiguous and x.shape == (10, 56, 28)
    np.testing.assert_array_equal(x, sl.models.mnist_input(images[9990:]))
    np.testing.assert_array_equal(got, labels[9990:])


def test_datasets_from_a_folder(tmp_path):
    images, labels = small_split(7)
    write_split(tmp_path, images, labels)
    data = sl.datasets.MNIST("train", root=tmp_path)
    assert len(data) == 7 and data.root == str(tmp_path.resolve())
    np.testing.assert_array_equal(data.load(0, 7)[0], sl.models.mnist_input(images))
    pairs = sl.datasets.TwoDigitMNIST("train", root=tmp_path, seed=1)
    x, got = pairs.load(0, 7)
    want, want_labels = sl.datasets.two_digit_mnist("train", root=tmp_path, seed=1)
    np.testing.assert_array_equal(x, sl.models.mnist_input(want))
    np.testing.assert_array_equal(got, want_labels)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        sl.datasets.MNIST("test", root=tmp_path)


def test_slicing_gives_subsets():
    data = sl.datasets.MNIST("test")
    part = data[10:20]
    assert isinstance(part, sl.datasets.Subset) and isinstance(part, sl.datasets.Dataset)
    assert len(part) == 10 and part.sample_shape == (28, 28) and part.has_labels
    inner = part[2:5]
    assert inner.dataset is data and (inner.start, inner.stop) == (12, 15)
    for got, want in zip(inner.load(0, 3), data.load(12, 15)):
        np.testing.assert_array_equal(got, want)
    assert len(data[-5:]) == 5 and data[-5:].start == 9995
    assert len(data[:]) == 10000 and len(data[9000:20000]) == 1000
    empty = data[7:3]
    assert len(empty) == 0
    x, labels = empty.load(0, 0)
    assert x.shape == (0, 28, 28) and x.dtype == np.float32 and labels.shape == (0,)


@pytest.mark.parametrize("index", [3, np.int64(3), "a", (slice(0, 2),), [0, 1]])
def test_indexing_by_anything_but_a_slice(index):
    with pytest.raises(TypeError, match="slice with step 1"):
        sl.datasets.MNIST("test")[index]


def test_slices_with_steps():
    data = sl.datasets.MNIST("test")
    with pytest.raises(ValueError, match="step 1 only, not step 2"):
        data[::2]
    with pytest.raises(ValueError, match="step -1"):
        data[::-1]
    assert len(data[::1]) == 10000


@pytest.mark.parametrize("start, stop", [(-1, 3), (3, 2), (0, 10001), (10000, 10001)])
def test_load_out_of_range(start, stop):
    with pytest.raises(ValueError, match="out of range"):
        sl.datasets.MNIST("test").load(start, stop)



def test_subset_load_out_of_range():
    with pytest.raises(ValueError, match=r"len\(dataset\) = 100"):
        sl.datasets.MNIST("test")[:100].load(0, 101)


def test_load_needs_ints():
    with pytest.raises(TypeError, match="load's start must be an int"):
        sl.datasets.MNIST("test").load(0.0, 2)


def test_datasets_pickle_small_and_without_arrays():
    pairs = sl.datasets.TwoDigitMNIST("test", seed=2)
    want = pairs.load(0, 5)  # fills its cache of pairs, which stays behind
    for data in (sl.datasets.MNIST("test"), pairs, pairs[3:9]):
        blob = pickle.dumps(data)
        assert len(blob) < 10_000, type(data)
        copy = pickle.loads(blob)
        assert type(copy) is type(data) and len(copy) == len(data)
        for got, expected in zip(copy.load(0, 3), data.load(0, 3)):
            np.testing.assert_array_equal(got, expected)
    assert len(pickle.dumps(pairs)) < 200
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pairs)).load(0, 5)[0], want[0])


def test_training_dataset_pickles_its_folder(mnist_dir, monkeypatch):
    monkeypatch.setenv("SEMIRING_LRP_MNIST", str(mnist_dir))
    data = sl.datasets.MNIST("train")
    blob = pickle.dumps(data)
    assert len(blob) < 10_000
    monkeypatch.delenv("SEMIRING_LRP_MNIST")  # a worker may not have it
    copy = pickle.loads(blob)
    np.testing.assert_array_equal(copy.load(59990, 60000)[0], data.load(59990, 60000)[0])


# --- ArrayDataset and as_dataset -----------------------------------------------------

def test_array_dataset_of_integers_gives_float32():
    x = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    data = sl.datasets.ArrayDataset(x, np.array([3, 1, 4, 1], dtype=np.uint8))
    assert len(data) == 4 and data.sample_shape == (2, 3) and data.has_labels
    got, labels = data.load(1, 3)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, x[1:3])
    assert labels.dtype == np.int64 and labels.tolist() == [1, 4]


def test_array_dataset_keeps_float64_and_slices():
    x = np.random.default_rng(0).normal(size=(5, 3))
    data = sl.datasets.ArrayDataset(x)
    assert not data.has_labels
    got, labels = data.load(2, 5)
    assert labels is None and got.dtype == np.float64 and np.shares_memory(got, x)
    np.testing.assert_array_equal(got, x[2:5])
    fortran = sl.datasets.ArrayDataset(np.asfortranarray(x)).load(0, 5)[0]
    assert fortran.flags.c_contiguous and fortran.dtype == np.float64


def test_array_dataset_takes_torch_tensors():
    torch = pytest.importorskip("torch")
    data = sl.datasets.ArrayDataset(torch.ones(3, 4), torch.tensor([0, 1, 2]))
    x, labels = data.load(0, 3)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and labels.tolist() == [0, 1, 2]


@pytest.mark.parametrize("x, labels, error, problem", [
    (np.zeros((4, 2)), np.zeros(3, int), ValueError, "x holds 4 samples but labels holds 3"),
    (np.zeros((4, 2)), np.zeros(4), TypeError, "labels must be integers"),
    (np.zeros((4, 2)), np.zeros((4, 1), int), ValueError, "labels must be one-dimensional"),
    (np.zeros(4), None, ValueError, "at least one axis per sample"),
    (np.array([["a", "b"]]), None, TypeError, "x must hold real numbers"),
])
def test_array_dataset_errors(x, labels, error, problem):
    with pytest.raises(error, match=problem):
        sl.datasets.ArrayDataset(x, labels)


def test_array_dataset_pickles_with_its_arrays():
    data = sl.datasets.ArrayDataset(np.ones((3, 2), np.float32), np.arange(3))
    copy = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(copy.load(0, 3)[0], np.ones((3, 2)))
    assert copy.load(0, 3)[1].tolist() == [0, 1, 2]


def test_as_dataset_accepted_forms():
    mnist = sl.datasets.MNIST("test")
    assert sl.datasets.as_dataset(mnist) is mnist
    x = np.random.default_rng(1).random((6, 2, 2)).astype(np.float32)
    labels = np.arange(6)

    pair = sl.datasets.as_dataset((x, labels))
    assert isinstance(pair, sl.datasets.ArrayDataset) and pair.has_labels
    assert pair.load(0, 6)[1].tolist() == labels.tolist()

    single = sl.datasets.as_dataset(x)
    assert not single.has_labels and single.sample_shape == (2, 2)

    stacked = sl.datasets.as_dataset(list(x))
    assert len(stacked) == 6 and not stacked.has_labels
    np.testing.assert_array_equal(stacked.load(0, 6)[0], x)
    # a tuple whose second item is no label vector is a sequence of samples
    two = sl.datasets.as_dataset((x[0], x[1]))
    assert len(two) == 2 and not two.has_labels
    # float "labels" make no (x, labels) pair: the tuple is two samples, unstackable
    with pytest.raises(ValueError, match="sample 1 has shape"):
        sl.datasets.as_dataset((np.zeros((2, 3)), np.zeros(2)))


def test_as_dataset_of_torch_tensors():
    torch = pytest.importorskip("torch")
    data = sl.datasets.as_dataset((torch.zeros(4, 3), torch.arange(4)))
    assert data.has_labels and len(data) == 4
    assert len(sl.datasets.as_dataset([torch.zeros(3), torch.ones(3)])) == 2


@pytest.mark.parametrize("value", ["images", b"x", {"x": 1}, 3, None, 2.5, iter([1, 2])])
def test_as_dataset_rejects_other_values(value):
    with pytest.raises(TypeError, match="as_dataset takes a Dataset, an array"):
        sl.datasets.as_dataset(value)


def test_as_dataset_sequence_errors():
    with pytest.raises(ValueError, match="empty"):
        sl.datasets.as_dataset([])
    with pytest.raises(ValueError, match=r"sample 1 has shape \(3,\) but sample 0 has \(2,\)"):
        sl.datasets.as_dataset([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="sample 0"):
        sl.datasets.as_dataset([np.array(["a"])])


# --- ImageFolder -----------------------------------------------------------------------

def write_png(path, seed, size=(30, 40)):
    image = pytest.importorskip("PIL.Image")
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    image.fromarray(pixels).save(path)


def test_image_folder_with_integer_subfolders(tmp_path):
    for seed, name in enumerate(["3/b.png", "3/a.PNG", "10/c.png", "1/d.png"]):
        write_png(tmp_path / name, seed)
    (tmp_path / "3" / "notes.txt").write_text("not an image")
    data = sl.datasets.ImageFolder(tmp_path, size=16, resize=20)
    relative = [p[len(str(tmp_path)) + 1:] for p in data.paths]
    assert relative == ["1/d.png", "10/c.png", "3/a.PNG", "3/b.png"]
    assert len(data) == 4 and data.sample_shape == (3, 16, 16) and data.has_labels
    x, labels = data.load(0, 4)
    assert x.dtype == np.float32 and x.shape == (4, 3, 16, 16) and x.flags.c_contiguous
    assert labels.dtype == np.int64 and labels.tolist() == [1, 10, 3, 3]
    for i, path in enumerate(data.paths):
        np.testing.assert_array_equal(x[i], sl.images.imagenet_input(path, 16, 20)[0])
    copy = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(copy.load(1, 2)[0], x[1:2])


@pytest.mark.parametrize("names", [["cats/a.png", "1/b.png"], ["a.png", "b.jpg"],
                                   ["1/deeper/a.png", "2/b.png"]])
def test_image_folder_without_labels(tmp_path, names):
    for seed, name in enumerate(names):
        write_png(tmp_path / name, seed)
    data = sl.datasets.ImageFolder(tmp_path, size=8, resize=8)
    assert len(data) == 2 and not data.has_labels
    x, labels = data.load(0, 2)
    assert labels is None and x.shape == (2, 3, 8, 8)


def test_image_folder_empty_or_missing(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "a.txt").write_text("text")
    with pytest.raises(ValueError, match=f"{tmp_path} holds no image file"):
        sl.datasets.ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder: .*absent"):
        sl.datasets.ImageFolder(tmp_path / "absent")


@pytest.mark.parametrize("size, resize, error", [(0, 256, ValueError), (224, 200, ValueError),
                                                 (2.5, 256, TypeError), (True, 8, TypeError)])
def test_image_folder_sizes(tmp_path, size, resize, error):
    write_png(tmp_path / "a.png", 0)
    with pytest.raises(error, match="size"):
        sl.datasets.ImageFolder(tmp_path, size=size, resize=resize)


def test_reshaped_and_shaped_for():
    digits = sl.datasets.MNIST("test")[:5]
    cnn, mlp = sl.models.mnist_cnn(), sl.models.mnist_mlp()
    assert sl.datasets.shaped_for(mlp, digits) is digits
    shaped = sl.datasets.shaped_for(cnn, digits)
    assert isinstance(shaped, sl.datasets.Reshaped) and shaped.sample_shape == (1, 28, 28)
    x, labels = shaped.load(1, 4)
    expected, expected_labels = digits.load(1, 4)
    np.testing.assert_array_equal(x, expected[:, None])
    np.testing.assert_array_equal(labels, expected_labels)
    assert len(shaped) == 5 and shaped.has_labels
    assert pickle.loads(pickle.dumps(shaped)).load(0, 2)[0].shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="takes \\(1568,\\)"):
        sl.datasets.shaped_for(sl.Network([sl.Linear(np.ones((2, 1568)))]), shaped)
    with pytest.raises(ValueError, match="numbers of values differ"):
        sl.datasets.Reshaped(digits, (2, 28, 28))
    with pytest.raises(TypeError, match="takes a Dataset"):
        sl.datasets.Reshaped(np.zeros((2, 28, 28)), (784,))
