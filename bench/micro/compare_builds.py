#!/usr/bin/env python3
"""Compares Google Benchmark binaries of two or more builds on a noisy machine.

Runs each binary in turn, round after round (so a slow spell of the machine falls on every
build alike), each run with a few repetitions, and prints per benchmark the median over the
rounds of each run's median and of each run's minimum, with every round's median. Each run is
a new process: a benchmark whose fixture is built per process (bench_scheduler's fleets) also
varies with where the process's memory lands, which is why the rounds matter more than the
repetitions.

    bench/micro/compare_builds.py FILTER ROUNDS BINARY [BINARY ...]

Example (two copies of build/bin/bench_scheduler, before and after a change):

    bench/micro/compare_builds.py \\
        'DefaultProfileDecision/endpoints:500/prompt_chars:4000/record:0$' 8 /tmp/before /tmp/after
"""
import collections
import re
import statistics
import subprocess
import sys

AGGREGATE = re.compile(r"^BM_(\S+)_(median|min)\s+\S+ ns\s+(\S+) ns", re.M)


def run(binary, pattern):
    out = subprocess.run(
        [binary, f"--benchmark_filter={pattern}", "--benchmark_min_time=0.2",
         "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"],
        capture_output=True, text=True, check=True).stdout
    return [(m.group(1), m.group(2), float(m.group(3))) for m in AGGREGATE.finditer(out)]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    pattern, rounds, binaries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    medians = collections.defaultdict(list)
    minimums = collections.defaultdict(list)
    for _ in range(rounds):
        for binary in binaries:
            for name, kind, cpu_ns in run(binary, pattern):
                (medians if kind == "median" else minimums)[(name, binary)].append(cpu_ns)
    for name, binary in sorted(medians, key=lambda k: (k[0], binaries.index(k[1]))):
        per_round = medians[(name, binary)]
        print(f"{name:62s} {binary.split('/')[-1]:10s} "
              f"median {statistics.median(per_round):8.0f} ns  "
              f"min {statistics.median(minimums[(name, binary)]):8.0f} ns  "
              f"rounds: {' '.join(f'{v:.0f}' for v in per_round)}")


if __name__ == "__main__":
    main()
