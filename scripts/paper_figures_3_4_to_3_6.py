"""The numbers behind the paper's figures 3.4 to 3.6, and AOPC, on MNIST.

Figure 3.4: neurons of the shipped MLP's first hidden layer ("fc1", 300)
ranked on the training images (relevance in four semirings, mean of |R|
with the label as target; L1 and L2 weight norms; random), pruned lowest
first; test accuracy and loss on the 10,000 test images. The same for the
filters of the shipped CNN's conv4 (32 filters), ranked on the first
--cnn-train training images.
Figure 3.6: accuracy as pixels are inverted (x -> 1 - x), drawn with
P(i) ~ exp(-R_i) (eq. 3.3.1, T = 1) for each semiring's relevance of the
label, exp(R_i) for real relevance, or uniformly; first --attack-images
test images, seed 0.
AOPC: pixel flipping (most relevant first, 16 pixels a step to 0, the
label's output score) of each semiring's relevance on the MLP and the CNN,
with a uniformly random map for reference.

    python scripts/paper_figures_3_4_to_3_6.py [--data DIR] [--figures DIR]

The MNIST files (both splits) are read from --data, else from the folder
named by SEMIRING_LRP_MNIST.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import semiring_lrp as sl  # noqa: E402
from semiring_lrp.apps.faithfulness import pixel_flipping  # noqa: E402
from semiring_lrp.apps.perturbation import attack_curve, occlusion_map  # noqa: E402
from semiring_lrp.apps.pruning import neuron_scores, pruning_curve  # noqa: E402
from semiring_lrp.idx import load_mnist  # noqa: E402

SEMIRINGS = {"real": sl.Real(), "boolean 1e-9": sl.Boolean(1e-9),
             "counting 1e-9": sl.Counting(1e-9), "viterbi": sl.Viterbi()}
NORMS = ("l1", "l2", "random")
MLP_PRUNED = (100, 200, 250)
CNN_PRUNED = (8, 16, 24)
ATTACK_PIXELS = (0, 25, 50, 100, 150, 200, 300)
SHOWN_PIXELS = (50, 200)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("SEMIRING_LRP_MNIST"),
                        help="folder of the MNIST files (default: $SEMIRING_LRP_MNIST)")
    parser.add_argument("--attack-images", type=int, default=None,
                        help="test images for the attack curves (default all)")
    parser.add_argument("--cnn-train", type=int, default=None,
                        help="training images ranking the CNN's filters (default all)")
    parser.add_argument("--cnn-images", type=int, default=None,
                        help="test images for the CNN's AOPC (default all)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--figures", type=Path, default=None,
                        help="also write figure_3_4.png, figure_3_5.png, figure_3_6.png here")
    args = parser.parse_args()
    if args.data is None:
        parser.error("name the folder of the MNIST files (both splits): --data DIR, or set "
                     "SEMIRING_LRP_MNIST")
    return args


def split(folder, name, channel=False):
    images, labels = load_mnist(folder, name)
    x = sl.models.mnist_input(images)
    return (x[:, None] if channel else x), labels.astype(np.int64)


def head(data, count):
    return data[0][:count], data[1][:count]


def table(title, columns, rows):
    print(f"\n{title}")
    widths = [max(len(str(line[k])) for line in [columns] + rows) for k in range(len(columns))]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    sys.stdout.flush()


def all_scores(net, train, layer, batch_size):
    scores = {}
    for name, semiring in SEMIRINGS.items():
        scores[name] = neuron_scores(net, train, layer, semiring=semiring, batch_size=batch_size)
    for name in NORMS:
        scores[name] = neuron_scores(net, None, layer, criterion=name, seed=0)
    return scores


def pruning_table(title, net, scores, layer, test, counts, batch_size):
    n = len(next(iter(scores.values())))
    ends = pruning_curve(net, scores["l1"], layer, test, steps=[0, n], batch_size=batch_size)
    rows, curves = [], {}
    for name, s in scores.items():
        curve = pruning_curve(net, s, layer, test, steps=list(counts), batch_size=batch_size)
        curves[name] = {key: np.r_[ends[key][0], curve[key], ends[key][1]] for key in curve}
        rows.append([name] + [f"{a:.4f} ({l:.3f})" for a, l in
                              zip(curves[name]["accuracy"], curves[name]["loss"])])
    table(title, ["criterion"] + [f"{c} pruned" for c in (0,) + tuple(counts) + (n,)], rows)
    return curves


def main():
    args = parse_args()
    started = time.time()
    mlp, cnn = sl.models.mnist_mlp(), sl.models.mnist_cnn()
    train, test = split(args.data, "train"), split(args.data, "test")
    print(f"MNIST from {args.data}: {len(train[0])} training, {len(test[0])} test images; "
          f"{sl.get_num_threads()} threads")

    # figure 3.4 and the CNN's filters
    scores = all_scores(mlp, train, "fc1", args.batch_size)
    mlp_curves = pruning_table(
        "Figure 3.4: MLP fc1 (300 neurons) pruned lowest score first; test accuracy "
        "(mean cross-entropy) on 10,000 test images", mlp, scores, "fc1", test, MLP_PRUNED,
        args.batch_size)
    figure_curves = {name: pruning_curve(mlp, s, "fc1", test, steps=13,
                                         batch_size=args.batch_size)
                     for name, s in scores.items()} if args.figures else None
    print(f"[{time.time() - started:.0f} s]")
    cnn_train = head(split(args.data, "train", channel=True), args.cnn_train)
    cnn_test = split(args.data, "test", channel=True)
    cnn_scores = all_scores(cnn, cnn_train, "conv4", args.batch_size)
    pruning_table(f"CNN conv4 (32 filters) ranked on {len(cnn_train[0])} training images, "
                  "pruned lowest first; test accuracy (mean cross-entropy) on 10,000 test images",
                  cnn, cnn_scores, "conv4", cnn_test, CNN_PRUNED, args.batch_size)
    print(f"[{time.time() - started:.0f} s]")

    # figure 3.6
    attacked = head(test, args.attack_images)
    draws = [(f"softmax(-R) {name}", semiring, "softmax(-R)")
             for name, semiring in SEMIRINGS.items()]
    draws += [("softmax(R) real", sl.Real(), "softmax(R)"), ("uniform", sl.Real(), "uniform")]
    attacks = {name: attack_curve(mlp, attacked, semiring, pixels=ATTACK_PIXELS,
                                  distribution=distribution, seed=0, batch_size=args.batch_size)
               for name, semiring, distribution in draws}
    uniform = attacks["uniform"]["accuracy"]
    columns = [ATTACK_PIXELS.index(p) for p in SHOWN_PIXELS]
    table(f"Figure 3.6: MLP accuracy with pixels inverted, drawn per image (T = 1, seed 0), "
          f"first {len(attacked[0])} test images; in brackets the difference to uniform",
          ["draw"] + [f"{p} pixels" for p in SHOWN_PIXELS],
          [[name] + [f"{curve['accuracy'][c]:.4f} ({curve['accuracy'][c] - uniform[c]:+.4f})"
                     for c in columns] for name, curve in attacks.items()])
    print(f"[{time.time() - started:.0f} s]")

    # AOPC
    rows = []
    for net, data, label in ((mlp, test, "MLP"), (cnn, head(cnn_test, args.cnn_images), "CNN")):
        row = [f"{label}, {len(data[0])} test images"]
        maps = dict(SEMIRINGS)
        maps["random map"] = np.random.default_rng(0).random(data[0].shape)
        for name, relevance in maps.items():
            result = pixel_flipping(net, data, relevance, features_in_step=16,
                                    batch_size=args.batch_size)
            row.append(f"{result['aopc']:.4f}")
        rows.append(row)
        print(f"[{time.time() - started:.0f} s]")
    table("AOPC: pixel flipping, most relevant first, 16 pixels a step to 0 (49 steps), "
          "the label's output score", ["network"] + list(maps), rows)

    if args.figures:
        from semiring_lrp.apps.figures import attack_figure, occlusion_figure, pruning_figure

        args.figures.mkdir(parents=True, exist_ok=True)
        pruning_figure(figure_curves, path=args.figures / "figure_3_4.png")
        occlusion_figure(occlusion_map(mlp, test, patch=4, by="label",
                                       batch_size=args.batch_size),
                         path=args.figures / "figure_3_5.png")
        attack_figure(attacks, baseline="uniform", path=args.figures / "figure_3_6.png")
        print(f"figures written to {args.figures}")
    print(f"done in {time.time() - started:.0f} s")
    return mlp_curves


if __name__ == "__main__":
    main()
