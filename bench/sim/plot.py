#!/usr/bin/env python3
"""Draws bench/sim's sweep: ticks and fleet rounds against GPUs.

usage: plot.py SWEEP.tsv OUT.png [COPY.png]   (run by `sim --sweep --plot`)
"""
import csv
import shutil
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    gpus = [int(r["gpus"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in (
            ("round_p99", "fleet round p99 (all instances once)", "o-"),
            ("round_p50", "fleet round p50", "o--"),
            ("round_mean", "fleet round mean (the work)", "o-."),
            ("tick_p99", "tick p99 (one instance_observed)", "s-"),
            ("tick_p50", "tick p50", "s--")):
        ax.plot(gpus, [float(r[key]) for r in rows], style, label=label)
    # a line of slope 1 through the first round p99: linear growth
    r0 = float(rows[0]["round_p99"])
    ax.plot(gpus, [r0 * g / gpus[0] for g in gpus], ":", color="grey",
            label="linear from the first round p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GPUs (instances = GPUs / 40)")
    ax.set_ylabel("ms (wall)")
    ax.set_title("edask controller, simulated fleet (bench/sim)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    if len(sys.argv) > 3:
        shutil.copyfile(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
