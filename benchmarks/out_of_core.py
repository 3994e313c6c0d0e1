"""Training on data larger than memory: a uint8 image array of at least 2× the free memory, read from disk.

    python benchmarks/out_of_core.py [--times 2.05] [--minutes 2] [--rounds 3] [--subset 500000]
        [--path runs/out_of_core/images.npy]

1. Writes (once; kept for later runs) ``--path``: an (N, 28, 28) uint8 .npy of ``--times`` × the memory available
   now (MemAvailable), made from the shipped MNIST training digits, each shifted by up to ±2 pixels at random
   (seeded), in chunks, atomically (a temporary file renamed).
2. ``--rounds`` rounds of three runs of ``vaekit train`` (seed preset, batch 128, seed 0, ``--time-limit
   --minutes``), one after another, each round in another order (a slow spell of a shared machine then hits each
   kind once), then one more run; each a child process whose resident memory (its own and any DataLoader workers',
   summed) is sampled every 0.1 s:
   * ``memory``: the first ``--subset`` rows, saved as their own .npy and read into memory (the usual path);
   * ``stream-blocks``: the whole array with ``--stream --shuffle blocks`` (runs of 64 rows; the disk reads 64 rows
     at once; read ahead by a thread of the training process, the default for a .npy);
   * ``stream``: the same with the default order (a permutation of rows);
   * ``stream-subset`` (once, at the end): the subset streamed (from the disk at first, then the page cache).
   The figures: per round, a streamed run's samples/s over the same round's in-memory run; the median over rounds.
Before each run the page cache is emptied (as root; recorded), so the data comes from the disk at first. Per run:
training samples/s (from metrics.jsonl, the epoch the time limit cut), the peak RSS of the training process (VmHWM)
and the peak PSS of the process with its workers (shared pages counted once), and the 1-minute load at its start.
The validation share is 0.1 % (with the streamed rows' cap of 256 MB).
Writes out_of_core.json and out_of_core.png. A benchmark, never run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CHUNK = 1_000_000  # rows written at a time (784 MB)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def make_array(path: Path, rows: int) -> float:
    """Write ``rows`` shifted MNIST digits to ``path`` (skipped when a file of that shape is there); seconds taken."""
    if path.exists():
        shape = np.load(path, mmap_mode="r").shape
        if shape[0] >= rows:
            return 0.0
    from vaekit.data.mnist import mnist_arrays

    digits = np.pad(mnist_arrays()["train"][0], ((0, 0), (2, 2), (2, 2)))
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    start = time.perf_counter()
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
    fd = os.open(tmp, os.O_RDONLY)
    for lo in range(0, rows, CHUNK):
        n = min(CHUNK, rows - lo)
        pick, dy, dx = rng.integers(0, len(digits), n), rng.integers(0, 5, n), rng.integers(0, 5, n)
        chunk = np.empty((n, 28, 28), dtype=np.uint8)
        for oy in range(5):
            for ox in range(5):
                sel = np.flatnonzero((dy == oy) & (dx == ox))
                chunk[sel] = digits[pick[sel], oy : oy + 28, ox : ox + 28]
        out[lo : lo + n] = chunk
        out.flush()
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # written: leave the page cache to the runs
    del out
    os.close(fd)
    os.replace(tmp, path)
    return time.perf_counter() - start


def tree_pss(pid: int) -> int:
    """Proportional resident bytes (PSS: a page shared by k processes counts 1/k in each) of ``pid`` and its
    descendants (the DataLoader workers share torch's pages with the process they were forked from)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def drop_caches() -> bool:
    """Empty the kernel's page cache before a run (root only), so every run starts from the disk; False if not."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def train(name: str, data: Path, args, folder: Path, extra: list[str]) -> dict:
    out = folder / name
    dropped = drop_caches()
    load = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "vaekit", "--threads", str(args.threads), "train", str(data), "--out", str(out),
           "--overwrite", "--seed", "0",
           "--epochs", "1", "--time-limit", str(args.minutes), "--val-fraction", "0.001", "--quiet",
           *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = {"tree": 0, "main": 0}

    def watch() -> None:
        while proc.poll() is None:
            peak["tree"] = max(peak["tree"], tree_pss(proc.pid))
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak["main"] = max(peak["main"], int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    start = time.perf_counter()
    watcher.start()
    if proc.wait() != 0:
        raise SystemExit(f"{name}: vaekit train failed")
    watcher.join()
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return {
        "name": name,
        "samples_per_s": record["samples_per_s"],
        "samples": round(record["samples_per_s"] * record["seconds"]),
        "train_elbo": record["elbo"],
        "wall_s": time.perf_counter() - start,
        "peak_pss_tree_bytes": peak["tree"],
        "peak_rss_main_bytes": peak["main"],
        "page_cache_dropped": dropped,
        "load_1min_at_start": load,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--times", type=float, default=2.05, help="array size as a multiple of the available memory")
    ap.add_argument("--minutes", type=float, default=2.0, help="training time per run")
    ap.add_argument("--subset", type=int, default=500_000, help="rows of the in-memory comparison")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of memory, stream-blocks and stream runs")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of each run (1: robust to other load)")
    ap.add_argument("--path", type=Path, default=Path("runs/out_of_core/images.npy"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    available, total = meminfo("MemAvailable"), meminfo("MemTotal")
    rows = int(args.times * available) // 784
    write_s = make_array(args.path, rows)
    rows = np.load(args.path, mmap_mode="r").shape[0]
    subset = args.path.with_name("subset.npy")
    np.save(subset, np.load(args.path, mmap_mode="r")[: args.subset])
    folder = args.path.parent
    configs = [
        ("memory", subset, ["--in-memory"]),
        ("stream-blocks", args.path, ["--stream", "--shuffle", "blocks"]),
        ("stream", args.path, ["--stream"]),
    ]
    runs, ratios = [], {"stream": [], "stream-blocks": []}
    for r in range(args.rounds):  # each round in another order: a slow minute of the machine hits each config once
        done = {}
        for name, data, extra in configs[r % 3 :] + configs[: r % 3]:
            done[name] = {**train(name, data, args, folder, extra), "round": r + 1}
            runs.append(done[name])
        for name in ratios:
            ratios[name].append(done[name]["samples_per_s"] / done["memory"]["samples_per_s"])
    runs.append({**train("stream-subset", subset, args, folder, ["--stream"]), "round": args.rounds})
    result = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_total_bytes": total,
        "memory_available_bytes": available,
        "array": {
            "path": str(args.path),
            "shape": [rows, 28, 28],
            "dtype": "uint8",
            "bytes": rows * 784,
            "times_available_memory": rows * 784 / available,
            "write_s": write_s,
        },  # fmt: skip
        "subset_rows": args.subset,
        "minutes_per_run": args.minutes,
        "threads": args.threads,
        "runs": runs,
        "rounds": args.rounds,
        # per round: the streamed run's samples/s over the same round's in-memory run; the figure is their median
        "stream_vs_memory_per_round": ratios["stream"],
        "stream_blocks_vs_memory_per_round": ratios["stream-blocks"],
        "stream_vs_memory": float(np.median(ratios["stream"])),
        "stream_blocks_vs_memory": float(np.median(ratios["stream-blocks"])),
        "command": " ".join(["python", *sys.argv]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "out_of_core.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 4.2))
    names = [f"{r['name']}\n#{r['round']}" for r in runs]
    palette = {"memory": "tab:grey", "stream-blocks": "tab:purple", "stream": "tab:blue", "stream-subset": "tab:cyan"}
    colours = [palette[r["name"]] for r in runs]
    a.bar(names, [r["samples_per_s"] for r in runs], color=colours)
    a.set_ylabel("training samples / s")
    a.tick_params(axis="x", labelsize=7)
    a.set_title(
        f"÷ memory (median of {args.rounds} rounds): stream {result['stream_vs_memory']:.2f}, "
        f"blocks {result['stream_blocks_vs_memory']:.2f}",
        fontsize=9,
    )
    b.bar(names, [r["peak_pss_tree_bytes"] / 2**30 for r in runs], color=colours)
    b.tick_params(axis="x", labelsize=7)
    b.axhline(2, color="red", linestyle="--", label="2 GB bound")
    b.set_ylabel("peak memory (GiB): PSS of process + workers")
    b.set_title(f"array {rows * 784 / 2**30:.1f} GiB = {rows * 784 / available:.2f}× available memory")
    b.legend()
    fig.suptitle(f"out-of-core training, {result['cpu']}, {os.cpu_count()} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "out_of_core.png", dpi=120)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
