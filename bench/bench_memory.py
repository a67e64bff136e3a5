"""Peak resident memory of one VGG-16 relevance pass (224x224, float32,
batch 1) per semiring, each in a fresh process that loads the network and
runs one pass, weights included.

    python bench/bench_memory.py [--weights vgg16.pth]

Random weights unless --weights names torchvision's VGG-16 state_dict file.
Timings are bench/bench_speed.py's.
"""
import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import semiring_lrp as sl

CASES = {
    "real, overview recipe": "sl.Real()",
    "boolean, paper thresholds": "sl.composites.paper_vgg16_boolean(net)",
    "counting, paper thresholds": "sl.Counting(sl.composites.PAPER_VGG16_THRESHOLDS, absolute=True)",
    "viterbi": "sl.Viterbi()",
}


def peak_memory(path, call, size=224):
    """VmHWM in bytes of a fresh process that loads the network saved at
    `path` as `net`, draws a batch-1 input `x` of size x size pixels and
    runs `call` (a line of Python)."""
    script = textwrap.dedent(f"""
        import numpy as np
        import semiring_lrp as sl
        net = sl.load({str(path)!r})
        x = np.random.default_rng(0).normal(size=(1, 3, {size}, {size})).astype(np.float32)
        {call}
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        status = open('/proc/self/status').read()
        print(int(status.split('VmHWM:')[1].split()[0]) * 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="torchvision's VGG-16 state_dict file")
    args = parser.parse_args()
    net = sl.models.vgg16(weights=args.weights) if args.weights else None
    if net is None:
        import torch
        import torchvision

        torch.manual_seed(0)
        net = sl.from_torch(torchvision.models.vgg16().eval())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vgg16.npz"
        net.save(path)
        print("peak resident memory of one VGG-16 pass in a fresh process (weights included):")
        for name, source in CASES.items():
            call = (f"sl.relevance(net, x, semiring={source}, "
                    "rule=sl.composites.lrp_overview_vgg16(net))")
            print(f"  {name:<32} {peak_memory(path, call) / 1e9:6.2f} GB")


if __name__ == "__main__":
    main()
