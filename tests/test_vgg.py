"""torchvision VGG: import, autograd and zennit agreement at 224x224, the
paper's boolean thresholds, and the memory of one pass."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torchvision
from reference import relative_error, torch_lrp, vgg_with_narrow_classifier

import semiring_lrp as sl
from semiring_lrp import composites


@pytest.fixture(scope="module")
def vgg16():
    torch.manual_seed(0)
    return torchvision.models.vgg16().eval()


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1, size=(1, 3, 224, 224))
    low, high = composites.imagenet_bounds()
    mean, std = composites.IMAGENET_MEAN.reshape(3, 1, 1), composites.IMAGENET_STD.reshape(3, 1, 1)
    x = (pixels - mean) / std
    assert np.all(x >= low - 1e-12) and np.all(x <= high + 1e-12)
    return x


@pytest.mark.slow
def test_overview_recipe_equals_autograd_in_float32(vgg16, image):
    """float64 is test_torch_bridge's test_gradient_lrp_on_vgg16_at_224
    ("overview": these weights, this image, within 1e-12)."""
    net = sl.from_torch(vgg16)
    x = image.astype(np.float32)
    composite = composites.lrp_overview_vgg16(net)
    target = [int(np.argmax(net.forward(x)))]
    got = sl.relevance(net, x, target=target, rule=composite, init="activation")
    want = torch_lrp(net, x, target, composite, maxpool=composite.maxpool)
    assert got.shape == x.shape and got.dtype == np.float32
    assert relative_error(got, want) < 1e-3


@pytest.mark.slow
def test_epsilon_gamma_box_equals_zennit(vgg16, image):
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox

    net = sl.from_torch(vgg16)
    x = image.astype(np.float32)
    low, high = composites.imagenet_bounds()
    target = int(np.argmax(net.forward(x)))
    ours = sl.relevance(net, x, target=target,
                        rule=composites.epsilon_gamma_box(net, low, high))
    box = [torch.tensor(np.broadcast_to(b, x.shape), dtype=torch.float32) for b in (low, high)]
    with Gradient(vgg16, EpsilonGammaBox(low=box[0], high=box[1])) as attributor:
        _, theirs = attributor(torch.tensor(x), torch.eye(1000)[[target]])
    assert relative_error(ours, theirs.numpy()) < 1e-3


@pytest.mark.slow
def test_boolean_with_the_papers_thresholds(vgg16, image):
    net = sl.from_torch(vgg16)
    semiring = composites.paper_vgg16_boolean(net)
    assert semiring.absolute and len(semiring.threshold) == 16
    assert max(semiring.threshold) == semiring.threshold[12] == 0.3
    x = image[0].astype(np.float32)
    r = sl.relevance(net, x, semiring=semiring)
    assert r.dtype == np.bool_ and r.shape == (3, 224, 224)
    assert sl.aggregate_channels(r, semiring).shape == (224, 224)
    # lower thresholds let more coefficients through, so more paths exist:
    # the paper's map lies inside the map of a threshold near 0 (random
    # weights spread relevance thinly, so the paper's own map may be empty)
    loose = sl.relevance(net, x, semiring=sl.Boolean(1e-9, absolute=True))
    assert loose.any() and not np.any(r & ~loose)


@pytest.mark.parametrize("name", ["vgg11", "vgg13_bn", "vgg16_bn", "vgg19"])
def test_vgg_variants_import(name):
    """The variants differ in their features; their classifier, the same
    layers in each, is imported at full size by test_torch_bridge's round
    trip of VGG-16."""
    torch.manual_seed(1)
    model = vgg_with_narrow_classifier(name).double().eval()
    with torch.no_grad():  # running statistics that make folding matter
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    net = sl.from_torch(model)
    assert not any(type(layer).__name__ == "BatchNorm2d" for layer in net.layers)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    np.testing.assert_allclose(net.forward(x), model(x).detach().numpy(), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.slow
def test_peak_memory_of_one_float32_pass(vgg16, tmp_path):
    """One VGG-16 pass (batch 1, float32, the overview recipe) in a fresh
    process that never imports torch: its peak resident memory, weights
    (553 MB) included, stays under 1.5 GB."""
    path = tmp_path / "vgg16.npz"
    sl.from_torch(vgg16).save(path)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import semiring_lrp as sl
        net = sl.load({str(path)!r})
        x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
        sl.relevance(net, x, rule=sl.composites.lrp_overview_vgg16(net))
        assert "torch" not in sys.modules
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        status = open('/proc/self/status').read()
        print(int(status.split('VmHWM:')[1].split()[0]) * 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, check=True)
    peak = int(done.stdout.split()[-1])
    assert peak < 1.5e9, f"peak RSS {peak / 1e9:.2f} GB"
