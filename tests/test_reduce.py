"""sl.apps.reduce_relevance against a slow literal reference: every image's
relevance computed alone with sl.relevance and combined by hand with NumPy;
the fixed tree; bits independent of the batch size; flat memory; errors."""
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from reference import MaxPlus, perturbed_digits

import semiring_lrp as sl
from semiring_lrp.apps import chunks, reducers, tree

COUNT = 300  # four whole chunks of 64 and a part of one
MAXPLUS_COUNT = 100  # the generic NumPy path is slow
HIDDEN = 3  # the input of fc2: the 300 neurons after fc1's ReLU
NAMES = ["flatten", "fc1", "relu1", "fc2", "relu2", "fc3"]


class Complex(MaxPlus):
    """A semiring whose relevance no sum or max orders: complex numbers."""

    def zero(self):
        return 0j

    def one(self):
        return 1 + 0j


SEMIRINGS = {"real": sl.Real(), "boolean": sl.Boolean(1e-9), "counting": sl.Counting(1e-9),
             "viterbi": sl.Viterbi(), "maxplus": MaxPlus()}
#: the (+) of each semiring, as reduce="semiring" takes it
SEMIRING_SUMS = {"real": "sum", "boolean": "or", "counting": "sum", "viterbi": "max",
                 "maxplus": "max"}
REDUCES = ["or", "and", "sum", "mean", "mean_abs", "max", "semiring"]


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def data():
    return perturbed_digits(COUNT, seed=0)


_alone = {}


def relevance_alone(net, x, semiring, layer, target=None):
    """(relevance (n, ...), predicted classes): image by image, each alone."""
    key = (semiring, layer, target, len(x))
    if key not in _alone:
        predictions = np.array([int(np.argmax(net.forward(image))) for image in x])
        targets = predictions if target is None else target
        r = np.stack([sl.relevance(net, image, target=int(t), semiring=SEMIRINGS[semiring],
                                   layer=layer) for image, t in zip(x, targets)])
        _alone[key] = r, predictions
    return _alone[key]


def identity(reduce, dtype, shape):
    """What a class without images gets."""
    if reduce == "sum":
        return np.zeros(shape, dtype=np.int64 if dtype.kind in "biu" else np.float64)
    if reduce in ("mean", "mean_abs"):
        return np.zeros(shape)
    if reduce in ("or", "and"):
        return np.full(shape, reduce == "and")
    if dtype.kind == "f":
        return np.full(shape, -np.inf, dtype=dtype)
    return np.full(shape, np.iinfo(dtype).min if dtype.kind == "i" else False, dtype=dtype)


def by_hand(r, reduce):
    """The reduction of r (n, ...) over its first axis, literally."""
    if reduce == "or":
        return np.any(r != 0, axis=0)
    if reduce == "and":
        return np.all(r != 0, axis=0)
    if reduce == "max":
        return (r + 0).max(axis=0) if r.dtype.kind == "f" else r.max(axis=0)
    values = np.abs(r) if reduce == "mean_abs" else r
    total = values.astype(np.int64 if r.dtype.kind in "biu" else np.float64).sum(axis=0)
    return total if reduce == "sum" else total / len(r)


def by_hand_grouped(r, groups, reduce, classes):
    return np.stack([by_hand(r[groups == c], reduce) if np.any(groups == c)
                     else identity(reduce, r.dtype, r.shape[1:]) for c in range(classes)])


def assert_reduced(got, want, exact):
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


CASES = [(s, layer, by, reduce) for s in SEMIRINGS for layer in ("input", HIDDEN)
         for by in (None, "label", "prediction") for reduce in REDUCES
         if s != "maxplus" or reduce in ("semiring", "mean")]


@pytest.mark.parametrize("semiring, layer, by, reduce", CASES)
def test_equals_the_images_combined_by_hand(net, data, semiring, layer, by, reduce):
    count = MAXPLUS_COUNT if semiring == "maxplus" else COUNT
    x, labels = data[0][:count], data[1][:count]
    r, predictions = relevance_alone(net, x, semiring, layer)
    got, counts = sl.apps.reduce_relevance(net, (x, labels), semiring=SEMIRINGS[semiring],
                                           layer=layer, reduce=reduce, by=by,
                                           batch_size=1000, return_counts=True)
    name = SEMIRING_SUMS[semiring] if reduce == "semiring" else reduce
    # integer sums are exact in any order, and so are or, and, max
    exact = r.dtype.kind in "biu" or name in ("or", "and", "max")
    if by is None:
        assert counts == count
        assert_reduced(got, by_hand(r, name), exact)
    else:
        groups = labels if by == "label" else predictions
        np.testing.assert_array_equal(counts, np.bincount(groups, minlength=10))
        assert_reduced(got, by_hand_grouped(r, groups, name, 10), exact)


@pytest.mark.parametrize("semiring", ["real", "viterbi"])
@pytest.mark.parametrize("layer", ["input", HIDDEN])
@pytest.mark.parametrize("by", [None, "label"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "mean_abs", "max"])
def test_float_reductions_have_the_same_bits_whatever_the_batch_size(net, data, semiring,
                                                                      layer, by, reduce):
    x, labels = data
    results = [sl.apps.reduce_relevance(net, (x, labels), semiring=SEMIRINGS[semiring],
                                        layer=layer, reduce=reduce, by=by, batch_size=size)
               for size in (1, 7, 1000)]
    assert len({r.tobytes() for r in results}) == 1
    assert results[0].dtype == (np.float32 if reduce == "max" else np.float64)
    # and no -0.0 is left to differ in
    assert not np.any(np.signbit(results[0]) & (results[0] == 0))


def test_target_label_and_one_class(net, data):
    x, labels = data
    for target, groups in (("label", labels), (3, np.full(len(x), 3))):
        r, _ = relevance_alone(net, x, "boolean", "input", target=tuple(groups))
        got = sl.apps.reduce_relevance(net, (x, labels), semiring=SEMIRINGS["boolean"],
                                       target=target, reduce="or", by="target")
        np.testing.assert_array_equal(got, by_hand_grouped(r, groups, "or", 10))


def test_target_label_over_all_images(net, data):
    x, labels = data
    r, _ = relevance_alone(net, x, "counting", HIDDEN, target=tuple(labels))
    got = sl.apps.reduce_relevance(net, (x, labels), semiring=SEMIRINGS["counting"],
                                   layer=HIDDEN, target="label", reduce="sum")
    np.testing.assert_array_equal(got, by_hand(r, "sum"))
    labels = labels.copy()
    labels[5] = -1
    with pytest.raises(ValueError, match="image 5 has label -1, outside the network's 10"):
        sl.apps.reduce_relevance(net, (x, labels), target="label")


def test_by_target_follows_the_prediction_when_target_is_none(net, data):
    kwargs = dict(semiring=sl.Counting(1e-9), reduce="sum", return_counts=True)
    by_target = sl.apps.reduce_relevance(net, data, by="target", **kwargs)
    by_prediction = sl.apps.reduce_relevance(net, data, by="prediction", **kwargs)
    for a, b in zip(by_target, by_prediction):
        np.testing.assert_array_equal(a, b)


def test_a_layer_by_name_equals_it_by_index(net, data):
    named = sl.Network(net.layers, net.input_shape, names=NAMES)
    for by in (None, "label"):
        got = sl.apps.reduce_relevance(named, data, layer="fc2", reduce="mean", by=by)
        want = sl.apps.reduce_relevance(net, data, layer=HIDDEN, reduce="mean", by=by)
        assert got.tobytes() == want.tobytes()


def test_every_form_of_data_gives_the_same_result(net, data):
    x, labels = data

    class Generated(sl.datasets.Dataset):
        def __len__(self):
            return len(x)

        sample_shape = (28, 28)

        @property
        def has_labels(self):
            return False

        def _load(self, start, stop):
            return x[start:stop], None

    forms = [x, list(x), (x, labels), sl.datasets.ArrayDataset(x), Generated()]
    results = {sl.apps.reduce_relevance(net, form, reduce="mean_abs",
                                        batch_size=128).tobytes() for form in forms}
    assert len(results) == 1


def test_a_view_of_a_dataset_reduces_its_images_alone(net, data):
    x, labels = data
    view = sl.datasets.ArrayDataset(x, labels)[100:250]
    got, counts = sl.apps.reduce_relevance(net, view, reduce="sum", by="label",
                                           return_counts=True, batch_size=50)
    want, want_counts = sl.apps.reduce_relevance(net, (x[100:250], labels[100:250]),
                                                 reduce="sum", by="label", return_counts=True)
    assert got.tobytes() == want.tobytes()
    np.testing.assert_array_equal(counts, want_counts)


def test_classes_without_images_get_the_identity(net, data):
    x, labels = data
    few = labels < 4
    for reduce, value in (("or", False), ("and", True), ("sum", 0), ("mean", 0),
                          ("max", -np.inf)):
        got, counts = sl.apps.reduce_relevance(net, (x[few], labels[few]), reduce=reduce,
                                               by="label", return_counts=True)
        assert np.all(counts[4:] == 0) and np.all(counts[:4] > 0)
        assert np.all(got[4:] == value)


# the fixed tree

def bracket(a, b):
    return f"({a} {b})"


@pytest.mark.parametrize("count", range(1, 71))
def test_the_streamed_tree_is_the_recursive_tree(count):
    leaves = [str(i) for i in range(count)]
    stack = tree.TreeStack(bracket)
    for leaf in leaves:
        stack.push(leaf)
        assert len(stack) <= count.bit_length()  # O(log n) values held
    want = tree.fixed_tree(leaves, bracket)
    assert stack.fold() == want
    # shards of 2**s leaves, each reduced alone, then combined by size
    for size in (1, 2, 4, 8, 16):
        outer = tree.TreeStack(bracket)
        for lo in range(0, count, size):
            outer.push(tree.fixed_tree(leaves[lo:lo + size], bracket),
                       size=len(leaves[lo:lo + size]))
        assert outer.fold() == want


def test_the_tree_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        tree.fixed_tree([], bracket)
    with pytest.raises(ValueError, match="no values"):
        tree.TreeStack(bracket).fold()


def test_chunks_are_combined_image_by_image_in_index_order():
    """With a non-associative combine, the result shows the order: images of
    each chunk left to right, chunks by the fixed tree."""

    class Order(reducers.Reduction):
        def accumulator_dtype(self, relevance_dtype):
            return np.dtype(object)

        def identity(self, shape, dtype):
            return np.full(shape, "", dtype=object)

        def prepare(self, r):
            return r.astype(object)

        def combine(self, a, b):
            return np.array([f"({x} {y})" if x else y for x, y in zip(a.ravel(), b.ravel())],
                            dtype=object).reshape(a.shape)

    count = 200
    images = np.array([[str(i)] for i in range(count)], dtype=object)
    results = set()
    for batch in (1, 7, 64, 100, 1000):
        reducer = chunks.RangeReducer(Order(), 0, count)
        for lo in range(0, count, batch):
            reducer.add(images[lo:lo + batch], np.zeros(min(batch, count - lo), dtype=np.int64))
        results.add(reducer.result().values[0][0])
    chunk_values = [Order().combine(np.array([""], dtype=object), np.array([str(lo)], dtype=object))
                    for lo in range(0, count, chunks.CHUNK)]
    for k, lo in enumerate(range(0, count, chunks.CHUNK)):
        for i in range(lo + 1, min(lo + chunks.CHUNK, count)):
            chunk_values[k] = Order().combine(chunk_values[k], np.array([str(i)], dtype=object))
    assert results == {tree.fixed_tree(chunk_values, Order().combine)[0]}


# memory

_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys, tracemalloc
    import numpy as np
    import semiring_lrp as sl

    class Synthetic(sl.datasets.Dataset):
        '''Sparse random images made per batch: the input is never held whole.'''
        def __init__(self, count):
            self.count = count
        def __len__(self):
            return self.count
        sample_shape = (28, 28)

        @property
        def has_labels(self):
            return True

        def _load(self, start, stop):
            x = np.random.default_rng(start).random((stop - start, 28, 28), dtype=np.float32)
            x[x < 0.8] = 0
            return x, np.arange(start, stop, dtype=np.int64) % 10

    net = sl.models.mnist_mlp()
    # a small run first, so that tracemalloc sees no first-use imports or caches
    sl.apps.reduce_relevance(net, Synthetic(300), reduce="mean", by="label", batch_size=100)
    tracemalloc.start()
    sl.apps.reduce_relevance(net, Synthetic(int(sys.argv[1])), reduce="mean", by="label",
                             batch_size=500)
    traced = tracemalloc.get_traced_memory()[1]
    status = open('/proc/self/status').read()
    hwm = int(status.split('VmHWM:')[1].split()[0]) * 1024
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, hwm, traced)
""")


def peak_memory(count):
    """(ru_maxrss, VmHWM, tracemalloc's peak) in bytes of a fresh process
    that reduces `count` synthetic images."""
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(count)],
                          capture_output=True, text=True, check=True)
    return [int(v) for v in done.stdout.split()]


def test_memory_stays_flat_in_the_number_of_images(capsys):
    small, large = peak_memory(1000), peak_memory(10000)
    with capsys.disabled():
        print(f"\npeak memory of reduce_relevance, 1,000 vs 10,000 images: ru_maxrss "
              f"{small[0] / 2**20:.1f} / {large[0] / 2**20:.1f} MiB, VmHWM "
              f"{small[1] / 2**20:.1f} / {large[1] / 2**20:.1f} MiB, tracemalloc peak "
              f"{small[2] / 2**20:.2f} / {large[2] / 2**20:.2f} MiB")
    # ru_maxrss of a child can carry the parent's peak across exec; VmHWM is its own
    assert large[1] <= 1.10 * small[1]
    assert large[0] <= 1.10 * small[0]
    # what Python and NumPy allocate: more by the tree's stack alone, which holds
    # log2(10) ~ 3.3 more chunk results of 10 classes x 784 float64 values
    assert large[2] - small[2] <= 5 * 10 * 784 * 8


# progress bar

def test_progress_bar_counts_images(net, data, capsys):
    sl.apps.reduce_relevance(net, data, batch_size=100, progress=True)
    err = capsys.readouterr().err
    assert f"{COUNT}/{COUNT}" in err and "img" in err


def test_no_bar_when_stderr_is_no_terminal_or_when_asked(net, data, capsys):
    sl.apps.reduce_relevance(net, data, batch_size=100)
    sl.apps.reduce_relevance(net, data, batch_size=100, progress=False)
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_bar(net, data, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sl.apps.reduce_relevance(net, data, batch_size=100)
    assert f"{COUNT}/{COUNT}" in terminal.getvalue()


def test_without_tqdm_no_bar_and_no_error(net, data, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    with pytest.raises(ImportError):
        import tqdm  # noqa: F401
    got = sl.apps.reduce_relevance(net, data, batch_size=100, progress=True)
    assert capsys.readouterr().err == ""
    assert got.tobytes() == sl.apps.reduce_relevance(net, data, progress=False).tobytes()


# errors

def test_int64_sums_raise_instead_of_wrapping():
    reduction = reducers.make_reduction("sum", sl.Counting(), np.int64)
    big = np.array([2**62, 1], dtype=np.int64)
    assert reduction.combine(big, big - 1).tolist() == [2**63 - 1, 1]
    with pytest.raises(OverflowError, match="int64"):
        reduction.combine(big, big)
    with pytest.raises(OverflowError, match="int64"):
        reduction.prepare(np.array([2**63], dtype=np.uint64))
    negative = np.array([-2**62], dtype=np.int64)
    with pytest.raises(OverflowError, match="int64"):
        reduction.combine(negative, negative - 1)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(net="mlp"), TypeError, "net must be a semiring_lrp.Network"),
    (dict(data=42), TypeError, "as_dataset takes a Dataset"),
    (dict(data=np.zeros((0, 28, 28), np.float32)), ValueError, "data is empty"),
    (dict(layer="fc9"), ValueError, "no layer is named 'fc9'"),
    (dict(layer=17), ValueError, "layer index 17 is out of range"),
    (dict(reduce="median"), ValueError, "reduce must be one of 'or', 'and', 'sum'"),
    (dict(reduce="sum", semiring=MaxPlus()), None, None),
    (dict(reduce="max", semiring=Complex()), TypeError,
     "reduce='max' works on bool, integer and float relevance, not complex128"),
    (dict(by="class"), ValueError, "by must be None or one of 'label', 'prediction'"),
    (dict(target=10), ValueError, "target 10 is out of range"),
    (dict(target=True), TypeError, "target must be None"),
    (dict(target="labels"), TypeError, "target must be None"),
    (dict(batch_size=0), ValueError, "batch_size must be at least 1, not 0"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int, not float 2.5"),
    (dict(batch_size=True), TypeError, "batch_size must be an int, not the bool True"),
    (dict(progress="yes"), TypeError, "progress must be None, True or False"),
    (dict(return_counts=1), TypeError, "return_counts must be True or False"),
    (dict(semiring="boolean"), TypeError, "unknown semiring"),
    (dict(rule="zero"), TypeError, "rule must be"),
    (dict(init="ones"), ValueError, "init must be 'one' or 'activation'"),
    (dict(init="activation", semiring=sl.Boolean()), ValueError, "needs the real semiring"),
    (dict(maxpool="min"), ValueError, "maxpool must be one of"),
    (dict(semiring=sl.Boolean([1e-9, 1e-9])), ValueError, "thresholds but the network has 3"),
    (dict(client="tcp://127.0.0.1:8786"), TypeError, "client must be a dask.distributed.Client"),
])
def test_bad_arguments_name_the_problem(net, data, kwargs, error, message):
    arguments = dict(net=net, data=data[0][:10])
    arguments.update(kwargs)
    if error is None:  # a valid call: reduce="sum" on a user semiring's floats
        assert sl.apps.reduce_relevance(**arguments).dtype == np.float64
        return
    with pytest.raises(error, match=message):
        sl.apps.reduce_relevance(**arguments)


@pytest.mark.parametrize("kwargs", [dict(by="label"), dict(target="label")])
def test_labels_are_needed_for_by_label_and_target_label(net, data, kwargs):
    needs = "by='label'" if "by" in kwargs else "target='label'"
    with pytest.raises(ValueError, match=f"{needs} needs labels, but the data has none"):
        sl.apps.reduce_relevance(net, data[0][:10], **kwargs)


def test_a_label_outside_the_classes_is_named(net, data):
    labels = np.arange(10, dtype=np.int64)
    labels[7] = 12
    with pytest.raises(ValueError, match="image 7 has label 12, outside the network's 10"):
        sl.apps.reduce_relevance(net, (data[0][:10], labels), by="label")


def test_a_dataset_that_loads_the_wrong_count_is_named(net, data):
    class Short(sl.datasets.Dataset):
        def __len__(self):
            return 10

        sample_shape = (28, 28)

        @property
        def has_labels(self):
            return False

        def _load(self, start, stop):
            return data[0][start:stop - 1], None

    with pytest.raises(ValueError, match=r"load\(0, 10\) gave 9 images, not 10"):
        sl.apps.reduce_relevance(net, Short())


def test_client_without_dask_is_an_import_error(net, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"needs dask.distributed: pip install"):
        sl.apps.reduce_relevance(net, data[0][:10], client=object())


@pytest.mark.parametrize("by", [None, "label"])
def test_several_reductions_in_one_pass_equal_each_alone(net, data, by):
    x, labels = data
    for semiring, names in ((sl.Boolean(1e-9), ("or", "and", "semiring")),
                            (sl.Real(), ("sum", "mean", "mean_abs")),
                            (sl.Viterbi(), ("max", "semiring"))):
        together, counts = sl.apps.reduce_relevance(net, (x, labels), semiring=semiring,
                                                    reduce=names, by=by, batch_size=300,
                                                    return_counts=True)
        assert list(together) == list(names)
        for name in names:
            alone, alone_counts = sl.apps.reduce_relevance(
                net, (x, labels), semiring=semiring, reduce=name, by=by, batch_size=77,
                return_counts=True)
            assert together[name].dtype == alone.dtype
            assert together[name].tobytes() == alone.tobytes(), name
            np.testing.assert_array_equal(counts, alone_counts)


@pytest.mark.parametrize("reduce,error,match", [
    (("or", "or"), ValueError, "each reduction once"),
    ((), ValueError, "each reduction once"),
    (("or", "sum"), TypeError, "accumulators differ in dtype"),
    (("or", "median"), ValueError, "reduce must be one of"),
])
def test_bad_several_reductions(net, data, reduce, error, match):
    with pytest.raises(error, match=match):
        sl.apps.reduce_relevance(net, data, semiring=sl.Boolean(), reduce=reduce)
