"""Readers with a bound: PyTorch files, .npy arrays and images whose headers
claim more than the file stores, or more pixels than are decoded, are
refused from the header with a ValueError naming the file (one error line
from the command), before anything of the claimed size is allocated; and
images of every mode are scaled to [0, 1]."""
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import semiring_lrp as sl
from semiring_lrp import images
from semiring_lrp.cli import main
from semiring_lrp.io import _read_npy_file


def run(capsys, *args):
    status = main(list(args))
    _, err = capsys.readouterr()
    return status, err


def assert_one_error_line(status, err, *words):
    assert status == 2
    assert err.startswith("semiring-lrp: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in err


@pytest.fixture
def torch_load_spy(monkeypatch):
    """Records every torch.load call, which then goes ahead."""
    calls, real = [], torch.load

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding any image's pixels fails the test."""
    def forbidden(self, *args, **kwargs):
        pytest.fail(f"pixels of a {self.size[0]}x{self.size[1]} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


# --- PyTorch state_dict files -------------------------------------------------

def _expanded(shape):
    """One float32 expanded (stride 0) to `shape`: 4 bytes of storage."""
    return torch.ones(1).expand(*shape)


def test_expanded_tensor_claiming_terabytes_is_refused(tmp_path):
    """A file of a few hundred bytes whose weight claims 10**12 floats (4 TB
    once made contiguous) is refused before any array is built."""
    path = tmp_path / "expanded.pt"
    torch.save({"fc.weight": _expanded((10**6, 10**6))}, path)
    assert path.stat().st_size < 4000
    with pytest.raises(ValueError) as info:
        sl.load(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "fc.weight" in message and "(1000000, 1000000)" in message
    assert "4000000000000 bytes" in message and "holds 4" in message


def test_tensors_sharing_one_storage_claim_more_than_the_file(tmp_path):
    """Fifty keys viewing one 40 KB storage claim 2 MB in all: refused, as
    the arrays built from them would take fifty times the file."""
    shared = torch.ones(100, 100)
    path = tmp_path / "shared.pt"
    torch.save({f"fc{i}.weight": shared for i in range(50)}, path)
    size = path.stat().st_size
    assert size < 100_000
    with pytest.raises(ValueError, match=rf"shared\.pt: its tensors claim \d+ bytes .* "
                                         rf"file has {size}"):
        sl.load(path)


def test_vgg16_weights_with_an_expanded_tensor_are_refused(tmp_path, capsys):
    """Every name and shape of VGG-16 (checked first), each tensor 4 bytes
    expanded: the first is refused when read."""
    path = tmp_path / "vgg.pth"
    shapes = sl.models._vgg_parameters("vgg16")
    torch.save({name: _expanded(shape) for name, shape in shapes.items()}, path)
    with pytest.raises(ValueError, match=r"vgg\.pth: tensor features\.0\.weight of shape "
                                         r"\(64, 3, 3, 3\) claims 6912 bytes"):
        sl.models.vgg16(path)
    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)
    status, err = run(capsys, "explain", "--model", "vgg16", "--weights", str(path),
                      "--image", str(image), "--output", str(tmp_path / "o.png"))
    assert_one_error_line(status, err, str(path), "features.0.weight", "claims")


def test_command_refuses_an_expanded_state_dict(tmp_path, capsys):
    path = tmp_path / "mlp.pt"
    torch.save({"fc.weight": _expanded((10**6, 10**6))}, path)
    status, err = run(capsys, "explain", "--model", str(path),
                      "--output", str(tmp_path / "o.png"))
    assert_one_error_line(status, err, str(path), "fc.weight", "claims")


def _patch_central_size(raw, member, size):
    """The zip bytes with `member`'s uncompressed size in the central
    directory set to `size`."""
    raw = bytearray(raw)
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) >= 0:
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_length].endswith(member.encode()):
            struct.pack_into("<I", raw, at + 24, size)
            return bytes(raw)
        at += 4
    raise AssertionError(f"no member {member}")


def test_zip_member_declaring_more_than_the_file_is_refused_before_torch_load(
        tmp_path, torch_load_spy):
    path = tmp_path / "member.pt"
    torch.save({"fc.weight": torch.ones(2, 2)}, path)
    path.write_bytes(_patch_central_size(path.read_bytes(), "data/0", 4_000_000_000))
    with pytest.raises(ValueError, match=r"member\.pt: its zip members declare \d+ bytes "
                                         r"in all \(member \S+data/0: 4000000000\)"):
        sl.load(path)
    assert torch_load_spy == []


def _legacy_file(path, numel_bytes):
    """A legacy-format (not zip) file of {"fc.weight": 1 float} whose pickle
    declares the storage's element count as the given LONG1 bytes."""
    torch.save({"fc.weight": torch.ones(1)}, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    count = b"K\x01Nt"  # BININT1 1 (the element count), None (no view), TUPLE
    assert raw.count(count) == 1
    path.write_bytes(raw.replace(count, b"\x8a" + bytes([len(numel_bytes)]) + numel_bytes
                                 + b"Nt"))


def test_legacy_storage_declaring_more_than_the_file_is_refused_before_torch_load(
        tmp_path, torch_load_spy):
    """torch.load allocates a legacy file's storages at their declared size
    before reading them: 10**11 floats (400 GB) in a file of 400 bytes."""
    path = tmp_path / "legacy.pt"
    _legacy_file(path, (10**11).to_bytes(5, "little"))
    with pytest.raises(ValueError, match=r"legacy\.pt: its storages declare 400000000000 "
                                         r"bytes in all but the file has \d+"):
        sl.load(path)
    assert torch_load_spy == []


def test_legacy_storage_with_a_negative_count_is_a_malformed_file(tmp_path, torch_load_spy):
    path = tmp_path / "negative.pt"
    _legacy_file(path, (-5).to_bytes(1, "little", signed=True))
    with pytest.raises(ValueError, match=r"negative\.pt: cannot be read .* declares -5"):
        sl.load(path)
    assert torch_load_spy == []


def _with_memo_index(raw, index):
    """The pickle bytes with their first BINPUT (memo entry 0) renamed to
    memo entry `index` (LONG_BINPUT)."""
    at = raw.index(b"q\x00")
    return raw[:at] + b"r" + struct.pack("<I", index) + raw[at + 2:]


def test_legacy_pickle_naming_a_huge_memo_index_is_refused_before_it_is_sized(
        tmp_path, torch_load_spy):
    """Python's C unpickler sizes its memo by the largest index a pickle
    names (2**25 entries: 512 MiB) before storing anything in it."""
    import tracemalloc

    path = tmp_path / "memo.pt"
    torch.save({"fc.weight": torch.ones(1)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(_with_memo_index(path.read_bytes(), 2**25))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"memo\.pt: its pickle stores memo entry "
                                             r"33554432 after \d+ opcodes"):
            sl.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert torch_load_spy == []


def test_weights_names_of_a_zip_whose_pickle_names_a_huge_memo_index_are_refused(tmp_path):
    """sl.models reads a weights file's names and shapes from its data.pkl
    alone (state_dict_shapes), through the same check."""
    import zipfile

    from semiring_lrp.io import state_dict_shapes

    saved, path = tmp_path / "saved.pt", tmp_path / "memo.pt"
    torch.save({"fc.weight": torch.ones(1)}, saved)
    assert state_dict_shapes(saved) == {"fc.weight": (1,)}
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = _with_memo_index(data, 2**25)
            target.writestr(info.filename, data)
    with pytest.raises(ValueError, match=r"memo\.pt: its pickle stores memo entry 33554432"):
        state_dict_shapes(path)


def test_legacy_pickle_declaring_a_frame_beyond_the_file_is_refused(tmp_path, torch_load_spy):
    """A protocol-4 frame is read at its declared size before it is used:
    here 2**40 bytes, in a file of a few hundred."""
    path = tmp_path / "frame.pt"
    torch.save({"fc.weight": torch.ones(1)}, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    assert raw.startswith(b"\x80\x02")
    path.write_bytes(b"\x80\x04\x95" + struct.pack("<Q", 2**40) + raw[2:])
    with pytest.raises(ValueError, match=r"frame\.pt: its pickle declares a frame of "
                                         r"1099511627776 bytes where \d+ are left"):
        sl.load(path)
    assert torch_load_spy == []


def test_legacy_and_zip_state_dicts_of_an_mlp_still_load(tmp_path, torch_load_spy):
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    x = np.random.default_rng(0).uniform(size=(2, 6)).astype(np.float32)
    expected = model(torch.from_numpy(x)).detach().numpy()
    for legacy in (False, True):
        path = tmp_path / f"mlp{legacy}.pt"
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=not legacy)
        np.testing.assert_allclose(sl.load(path).forward(x), expected, rtol=1e-6)
    assert len(torch_load_spy) == 2


# --- .npy arrays ----------------------------------------------------------------

def _npy_claiming(path, shape, descr="<f8"):
    """A .npy file: a header claiming `shape` and no data (about 128 bytes)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    return path


def test_npy_claiming_gigabytes_is_refused(tmp_path, capsys):
    """200,000 x 200,000 float64 (298 GiB) in a file of 128 bytes."""
    path = _npy_claiming(tmp_path / "huge.npy", (200000, 200000))
    assert path.stat().st_size < 200
    with pytest.raises(ValueError, match=r"huge\.npy: its header claims shape \(200000, "
                                         r"200000\) of float64 \(320000000000 bytes\) but "
                                         r"the file holds 0 bytes of data"):
        _read_npy_file(path)
    status, err = run(capsys, "explain", "--image", str(path),
                      "--output", str(tmp_path / "o.png"))
    assert_one_error_line(status, err, str(path), "320000000000 bytes")


def test_npy_one_byte_short_is_refused_and_a_whole_one_is_read(tmp_path):
    whole = tmp_path / "whole.npy"
    np.save(whole, np.arange(784, dtype=np.uint8).reshape(28, 28))
    np.testing.assert_array_equal(_read_npy_file(whole),
                                  np.arange(784, dtype=np.uint8).reshape(28, 28))
    short = tmp_path / "short.npy"
    short.write_bytes(whole.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"short\.npy: .*\(784 bytes\) but the file holds "
                                         r"783 bytes"):
        _read_npy_file(short)


def test_vgg16_npz_path_holding_a_lone_npy_is_refused(tmp_path):
    """np.load would read a lone .npy given as weights.npz in full."""
    path = _npy_claiming(tmp_path / "weights.npz", (200000, 200000))
    with pytest.raises(ValueError, match=r"weights\.npz: is not an \.npz archive"):
        sl.models.vgg16(path)


# --- images: declared size --------------------------------------------------------

def _png(path, width, height, bit_depth, colour_type, rows):
    """A PNG written byte by byte (filter 0 on every row): the declared
    size is `width` x `height` whatever `rows` holds."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    compress = zlib.compressobj()
    data = b"".join(compress.compress(b"\x00" + row) for row in rows) + compress.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
                     + chunk(b"IEND", b""))
    return path


def _big_png(path, side):
    """A 1-bit grey PNG declaring side x side pixels (its first rows only)."""
    return _png(path, side, side, 1, 0, [bytes((side + 7) // 8)] * 4)


@pytest.mark.parametrize("side", [12000, 20000])
def test_image_declaring_too_many_pixels_is_refused_from_its_header(tmp_path, no_decoding,
                                                                    side):
    """12000 x 12000 is over MAX_PIXELS; 20000 x 20000 also over PIL's own
    bound, whose DecompressionBombError must come out as a ValueError."""
    path = _big_png(tmp_path / "big.png", side)
    assert side * side > images.MAX_PIXELS
    for read in (images.read_image, images.imagenet_input):
        with pytest.raises(ValueError, match=rf"big\.png: declares .*{side * side}"):
            read(path)


@pytest.mark.parametrize("side", [12000, 40000])
def test_command_refuses_a_huge_png_without_decoding(tmp_path, capsys, no_decoding, side):
    """One error line, and no PIL warning (12000 x 12000 is over PIL's
    warning size, 40000 x 40000 over its error size)."""
    path = _big_png(tmp_path / "big.png", side)
    for model in ([], ["--model", "vgg16", "--weights", "unread.pth"]):
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            status, err = run(capsys, "explain", *model, "--image", str(path),
                              "--output", str(tmp_path / "o.png"))
        assert [str(w.message) for w in warned] == []
        assert_one_error_line(status, err, str(path))
        assert f"{side}x{side}" in err or str(side * side) in err


def test_mnist_path_refuses_a_png_of_the_wrong_size_from_its_header(tmp_path, capsys,
                                                                    no_decoding):
    path = _png(tmp_path / "wide.png", 29, 28, 8, 0, [bytes(29)] * 28)
    status, err = run(capsys, "explain", "--image", str(path),
                      "--output", str(tmp_path / "o.png"))
    assert_one_error_line(status, err, f"{path} is 28x29", "(784 values)")


def _smooth_rgb(width, height):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)],
                    axis=2).astype(np.uint8)


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path, monkeypatch):
    """With MAX_PIXELS at 10,000, a 400 x 320 JPEG is decoded at 1/8 (50 x
    40, shorter side at least resize = 20) and gives nearly the crop of the
    full decode; a PNG of that size, which has no reduced decoding, is refused."""
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(_smooth_rgb(400, 320)).save(jpeg, quality=95)
    full = images.imagenet_input(jpeg, 16, 20)[1]
    resized_from, real_crop = [], images._resized_crop

    def spy(pil, size, resize):
        resized_from.append(pil.size)
        return real_crop(pil, size, resize)

    monkeypatch.setattr(images, "_resized_crop", spy)
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    reduced = images.imagenet_input(jpeg, 16, 20)[1]
    assert resized_from == [(50, 40)]
    assert np.abs(reduced - full).mean() < 0.02
    png = tmp_path / "photo.png"
    Image.fromarray(_smooth_rgb(400, 320)).save(png)
    with pytest.raises(ValueError, match=r"photo\.png: declares 400x320 pixels \(128000\)"):
        images.imagenet_input(png, 16, 20)


# --- images: every mode in [0, 1] -------------------------------------------------

def _grey(values):
    return np.repeat(np.asarray(values, dtype=np.float64)[:, :, None], 3, axis=2)


def _mode(path):
    with Image.open(path) as image:
        return image.mode


def _saved(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_sixteen_bit_grey_png_is_divided_by_65535(tmp_path):
    samples = np.array([[0, 1000, 30000, 65535]], dtype=np.uint16)
    path = _saved(tmp_path, "grey16.png", Image.fromarray(samples))
    assert _mode(path) == "I;16"
    np.testing.assert_allclose(images.read_image(path), _grey(samples / 65535), rtol=1e-6)


def test_sixteen_bit_grey_keeps_its_scale_through_imagenet_input(tmp_path):
    """A uniform 16-bit grey of 1000 / 65535 (0.0153: dark, not white; and
    not rounded to 4 / 255 = 0.0157)."""
    samples = np.full((30, 40), 1000, dtype=np.uint16)
    path = _saved(tmp_path, "dark16.png", Image.fromarray(samples))
    crop = images.imagenet_input(path, 16, 20)[1]
    assert crop.shape == (16, 16, 3)
    np.testing.assert_allclose(crop, 1000 / 65535, rtol=1e-5)


def test_sixteen_bit_rgb_png_is_scaled(tmp_path):
    """PIL reads a 16-bit colour PNG at 8 bits per sample: within 1/255 of
    sample / 65535."""
    samples = np.array([[[1000, 30000, 65535], [65535, 0, 12345]]], dtype=">u2")
    path = _png(tmp_path / "rgb16.png", 2, 1, 16, 2, [samples[0].tobytes()])
    assert _mode(path) == "RGB"
    np.testing.assert_allclose(images.read_image(path), samples / 65535, atol=1 / 255)


def test_eight_bit_modes_are_divided_by_255(tmp_path):
    rgb = np.array([[[0, 128, 255], [10, 20, 30]]], dtype=np.uint8)
    cases = {
        "l.png": (Image.fromarray(rgb[..., 0]), _grey(rgb[..., 0] / 255)),
        "rgb.png": (Image.fromarray(rgb), rgb / 255),
        "rgba.png": (Image.fromarray(np.dstack([rgb, np.full((1, 2), 7, np.uint8)])),
                     rgb / 255),  # alpha dropped
        "la.png": (Image.fromarray(rgb[..., 0]).convert("LA"), _grey(rgb[..., 0] / 255)),
        "one.png": (Image.fromarray(np.array([[False, True]])), _grey([[0, 1]])),
    }
    palette = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="L").convert("P")
    palette.putpalette([0, 128, 255, 10, 20, 30] + [0] * 762)
    cases["p.png"] = (palette, rgb / 255)
    for name, (image, expected) in cases.items():
        path = _saved(tmp_path, name, image)
        assert _mode(path) == image.mode, name
        np.testing.assert_allclose(images.read_image(path), expected, rtol=1e-6, err_msg=name)


def test_cmyk_is_converted_to_rgb(tmp_path):
    """CMYK (TIFF, lossless): PIL's R = (255 - C) (255 - K) / 255, and so on."""
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 255, 0], [0, 0, 0, 255]]],
                    dtype=np.uint8)
    path = _saved(tmp_path, "cmyk.tif", Image.fromarray(cmyk, mode="CMYK"))
    expected = [[[1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0]]]
    np.testing.assert_allclose(images.read_image(path), expected, atol=1 / 255)


def test_thirty_two_bit_integer_grey_is_read_as_sixteen_bit_samples(tmp_path):
    ok = _saved(tmp_path, "i.tif", Image.fromarray(np.array([[0, 1000, 65535]], np.int32)))
    assert _mode(ok) == "I"
    np.testing.assert_allclose(images.read_image(ok), _grey([[0, 1000 / 65535, 1]]),
                               rtol=1e-6)
    wide = _saved(tmp_path, "wide.tif", Image.fromarray(np.array([[0, 70000]], np.int32)))
    with pytest.raises(ValueError, match=r"wide\.tif: 32-bit integer pixels must lie in "
                                         r"0\.\.65535 .*not 0\.\.70000"):
        images.read_image(wide)


def test_float_grey_is_taken_as_it_is_within_zero_and_one(tmp_path):
    ok = _saved(tmp_path, "f.tif", Image.fromarray(np.array([[0, 0.25, 1]], np.float32)))
    assert _mode(ok) == "F"
    np.testing.assert_allclose(images.read_image(ok), _grey([[0, 0.25, 1]]))
    bright = _saved(tmp_path, "bright.tif",
                    Image.fromarray(np.array([[0, 1.5]], np.float32)))
    with pytest.raises(ValueError, match=r"bright\.tif: floating-point pixels must lie in"):
        images.read_image(bright)


def test_command_reads_a_sixteen_bit_grey_png_of_a_digit(tmp_path):
    """The MNIST path scales a 16-bit grey PNG as read_image does."""
    from semiring_lrp.cli import _read_image

    digits, _ = sl.models.mnist_digits()
    samples = digits[0].astype(np.uint16) * 257  # 255 -> 65535
    path = _saved(tmp_path, "digit16.png", Image.fromarray(samples))
    read = _read_image(str(path), sl.models.mnist_mlp())
    np.testing.assert_allclose(read, digits[0] / 255, rtol=1e-6)


def test_a_file_torch_cannot_read_gives_one_short_line(tmp_path, capsys):
    """torch.load(weights_only=True) refuses pickle protocol 4 after warning
    about it; the command says why in one line, without the warning or
    torch's paragraph of advice."""
    path = tmp_path / "protocol4.pt"
    torch.save({"0.weight": torch.ones(3, 4)}, path, pickle_protocol=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as info:
            sl.load(path)
    assert str(info.value) == (f"{path}: cannot be read as a PyTorch state_dict "
                               "(UnpicklingError: Unsupported operand 149)")
    status, err = run(capsys, "explain", "--model", str(path), "--image",
                      str(tmp_path / "x.npy"), "--output", str(tmp_path / "o.png"))
    assert_one_error_line(status, err, str(path), "Unsupported operand 149")
