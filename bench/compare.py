"""Side-by-side timing of rnnkit, oneDNN's RNN primitives and PyTorch on the cases of the performance
issue, alternating the three sides and the thread counts in each round on the same machine, and a Markdown
table of the best times, the ratios, each side's fraction of the measured sgemm rate, streaming
latency and peak memory.

Usage: /usr/bin/python3 bench/compare.py [--threads 1,2] [--cells lstm,gru,rnn] [--rounds 2]
                                          [--reps 3] [--build build] [--out bench/RESULTS.md] [--quick]
Each side runs in its own process per case (bench_train_step, bench_dnnl, bench/torch_case.py), so
peak memory is per side and case; "training peak MB" is the peak resident set right after the
training-step timing (before any inference buffer) minus the process's own
baseline before any buffer (the interpreter and libraries for PyTorch)."""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

CASES = [(32, 50, 64, 128, 1, 0), (64, 100, 64, 256, 2, 0), (32, 50, 128, 256, 1, 1), (64, 50, 512, 512, 1, 0),
         (16, 25, 1024, 1024, 1, 0)]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def forward_flops(cell, B, T, I, H, L, bi):
    D = 2 if bi else 1
    return sum(2.0 * B * T * GATES[cell] * H * ((I if l == 0 else D * H) + H) * D for l in range(L))


def run(cmd, threads, core=None):
    """Runs one side's process and returns its last JSON line. core: the one CPU it may run on (the
    single-thread runs: this VM's two cores have differed by up to 20 % in speed, and which one an
    unpinned process lands on would otherwise decide the ratio between sides)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, preexec_fn=pin)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(results):
    merged = {}
    for r in results:
        for k, v in r.items():
            pick = max if k.endswith("_gflops") else min  # the best time is the least, the best rate the most
            merged[k] = pick(merged.get(k, v), v)
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", help="also write the table (with the command and machine) to this file")
    ap.add_argument("--quick", action="store_true", help="the first two cases only")
    args = ap.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]
    cells = args.cells.split(",")
    cases = CASES[:2] if args.quick else CASES
    rnnkit = os.path.join(args.build, "bench_train_step")
    dnnl = os.path.join(args.build, "bench_dnnl")
    torch_case = [sys.executable, os.path.join(HERE, "torch_case.py")]

    # The machine's GEMM rate, taken before the cases and again after them, the faster of the two:
    # one slow minute at the start would otherwise inflate every "% sgemm" of the run.
    cores = sorted(os.sched_getaffinity(0))
    # a single-thread run pinned: in round k to cores[k % len(cores)], the three sides of a round on the same
    # core (the best time of each side then comes from each core it ran on)
    pinned = lambda threads, k: cores[k % len(cores)] if threads == 1 else None  # noqa: E731
    rates = {t: run([rnnkit, "sgemm", str(t)], t, pinned(t, 0)) for t in threads_list}
    # What the results depend on (core-to-core latency, memory bandwidth, the core's FMA peak), before and after.
    machine = [run([rnnkit, "machine"], 2)]
    rows, scaling, ragged = [], {}, {}
    for cell in cells:
        for case in cases:
            # every round runs the three sides at each thread count in turn, so that the ratios between
            # sides and between thread counts come from runs a few seconds apart on this noisy machine
            got = {t: {"rnnkit": [], "onednn": [], "pytorch": []} for t in threads_list}
            for k in range(args.rounds):
                for threads in threads_list:
                    argv = [cell, *map(str, case), str(threads), str(args.reps)]
                    core = pinned(threads, k)
                    got[threads]["rnnkit"].append(run([rnnkit, *argv], threads, core))
                    got[threads]["onednn"].append(run([dnnl, *argv], threads, core))
                    got[threads]["pytorch"].append(run([*torch_case, *argv], threads, core))
            for threads in threads_list:
                r = {k: best(v) for k, v in got[threads].items()}
                f = forward_flops(cell, *case)
                rows.append((threads, cell, case, r, f))
                scaling.setdefault((cell, case), {})[threads] = r["rnnkit"]["train_ms"]
                kit = r["rnnkit"]
                pt = r["pytorch"]
                ragged.setdefault((cell, case), {})[threads] = (kit["ragged_train_ms"] / kit["train_ms"],
                                                               kit["ragged_real_fraction"],
                                                               kit["unpadded_train_ms"] / kit["train_ms"],
                                                               kit["unpadded_rows"] / case[0],
                                                               pt["ragged_train_ms"] / pt["train_ms"],
                                                               kit["update_ms"] / kit["train_ms"])
                print(f"{cell} {case} t={threads}: rnnkit {r['rnnkit']['train_ms']:.1f} ms, "
                      f"oneDNN {r['onednn']['train_ms']:.1f} ms, PyTorch {r['pytorch']['train_ms']:.1f} ms",
                      file=sys.stderr, flush=True)
    rows.sort(key=lambda row: threads_list.index(row[0]))  # the table by thread count (a stable sort)

    for t in threads_list:
        again = run([rnnkit, "sgemm", str(t)], t, pinned(t, 1))
        if again["sgemm_gflops"] > rates[t]["sgemm_gflops"]:
            rates[t] = again
    sgemm = {t: r["sgemm_gflops"] for t, r in rates.items()}
    machine.append(run([rnnkit, "machine"], 2))

    def peak(r):  # of training: measured right after the training step's timing, before inference
        return r.get("train_max_rss_mb", r["max_rss_mb"]) - r["base_rss_mb"]

    lines = [
        "| thr | cell | B, T, I, H, L, bi | rnnkit train ms | oneDNN fwd+bwd ms | PyTorch train ms "
        "| oneDNN / rnnkit | PyTorch / rnnkit | rnnkit % sgemm | oneDNN % sgemm "
        "| rnnkit infer ms | oneDNN infer ms | PyTorch infer ms | stream us rnnkit / PyTorch "
        "| training peak MB rnnkit / oneDNN / PyTorch |",
        "| --- " * 15 + "|",
    ]
    for threads, cell, case, r, f in rows:
        k, d, p = r["rnnkit"], r["onednn"], r["pytorch"]
        pct = lambda ms: 100.0 * 3 * f / ms / 1e6 / sgemm[threads]  # noqa: E731
        lines.append(
            f"| {threads} | {cell} | {', '.join(map(str, case))} | {k['train_ms']:.1f} | {d['train_ms']:.1f} "
            f"| {p['train_ms']:.1f} | {d['train_ms'] / k['train_ms']:.2f} | {p['train_ms'] / k['train_ms']:.2f} "
            f"| {pct(k['train_ms']):.0f} | {pct(d['train_ms']):.0f} | {k['infer_ms']:.1f} | {d['infer_ms']:.1f} "
            f"| {p['infer_ms']:.1f} | {k['stream_us']:.0f} / {p['stream_us']:.0f} "
            f"| {peak(k):.0f} / {peak(d):.0f} / {peak(p):.0f} |")
    if len(threads_list) > 1:
        t0, t1 = threads_list[0], threads_list[-1]
        lines += ["", f"rnnkit training: speed-up of {t1} threads over {t0}, and the time of a padded batch (lengths "
                  f"spread evenly from T/B to T, sorted) over a full one at {t0} and at {t1} threads; beside it, "
                  "the same real steps without padding (a full batch of the rows they fill) over the full one; "
                  "and PyTorch's padded batch (the same lengths through pack_padded_sequence) over its full one "
                  "(oneDNN takes no lengths: a padded batch costs it the full time); last, the step's update "
                  "(the gradients' norm and Adam: passes over every parameter that no padding shortens) "
                  f"over the full step at {t0} thread, and the floor it sets: update + real steps * "
                  "(full - update), what a padded batch whose rows ran as efficiently as the full batch's would "
                  "cost:", "",
                  f"| cell | B, T, I, H, L, bi | speed-up | padded / full time, {t0} thr | {t1} thr | real steps "
                  f"| unpadded / full time, {t0} thr | {t1} thr | unpadded rows "
                  f"| PyTorch padded / full, {t0} thr | {t1} thr | update / full, {t0} thr | floor, {t0} thr |",
                  "| --- " * 13 + "|"]
        for (cell, case), ms in scaling.items():
            r0, r1 = ragged[(cell, case)][t0], ragged[(cell, case)][t1]
            floor = r0[5] + r0[1] * (1 - r0[5])
            lines.append(f"| {cell} | {', '.join(map(str, case))} | {ms[t0] / ms[t1]:.2f} | {r0[0]:.2f} "
                         f"| {r1[0]:.2f} | {r0[1]:.2f} | {r0[2]:.2f} | {r1[2]:.2f} | {r0[3]:.2f} | {r0[4]:.2f} "
                         f"| {r1[4]:.2f} | {r0[5]:.2f} | {floor:.2f} |")
    # The like-for-like step for oneDNN: its backward always computes the input's gradient
    # (diff_src_layer), which rnnkit's and PyTorch's training steps above leave out (nothing reads it).
    lines += ["", "oneDNN's backward always computes the first layer's input gradient (diff_src_layer); the training "
              "steps above (rnnkit's and PyTorch's) leave it out, since nothing reads it. rnnkit's step with it too:", "",
              "| thr | cell | B, T, I, H, L, bi | rnnkit train ms | with input gradient ms | oneDNN fwd+bwd ms "
              "| oneDNN / rnnkit with input gradient |",
              "| --- " * 7 + "|"]
    for threads, cell, case, r, f in rows:
        k, d = r["rnnkit"], r["onednn"]
        lines.append(f"| {threads} | {cell} | {', '.join(map(str, case))} | {k['train_ms']:.1f} | {k['train_dx_ms']:.1f} "
                     f"| {d['train_ms']:.1f} | {d['train_ms'] / k['train_dx_ms']:.2f} |")
    table = "\n".join(lines)
    sg = ", ".join(f"{t} thread(s): {r['sgemm_gflops']:.0f} GFLOP/s (OpenBLAS {r['openblas_gflops']:.0f} with its "
                   f"{r['blas_kernels']} kernels, rnnkit's GEMM {r['rnnkit_gflops']:.0f})" for t, r in rates.items())

    def both(key, fmt):  # the probe's value before and after the cases (a negative one: not measured)
        return " and ".join(fmt.format(m[key]) if m[key] >= 0 else "n/a" for m in machine)

    probe = (f"a value passed between two pinned threads took {both('round_trip_ns', '{:.0f}')} ns a round trip; "
             f"memory read at {both('read_gbps_1', '{:.0f}')} GB/s by 1 thread, {both('read_gbps_2', '{:.0f}')} by 2; "
             f"one core's peak rate of fused multiply-adds (16 independent chains, the widest vectors) "
             f"{both('fma_gflops', '{:.0f}')} GFLOP/s")
    header = (f"Measured {datetime.date.today()} on {platform.processor() or platform.machine()} "
              f"({os.cpu_count()} cores); sgemm 2048^3, the faster of OpenBLAS and rnnkit's own kernel, the better of "
              f"a measurement before the cases and one after: {sg}.\n"
              f"Before and after the cases: {probe}.\n"
              f"Command: `/usr/bin/python3 bench/compare.py {' '.join(sys.argv[1:])}`\n")
    print(header)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(header + "\n" + table + "\n")


if __name__ == "__main__":
    main()
