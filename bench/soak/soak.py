#!/usr/bin/env python3
"""Soak test of infergate on a simulated fleet: mixed traffic for a while, with faults.

Traffic: whole and streamed completions, clients that abort mid-stream, slow readers. Faults: one
simulator process (of two) killed with SIGKILL and started again on the same ports every
--kill-every seconds; the configuration rewritten (a reload) every --reload-every seconds;
SIGTERM to the gateway at the end. The simulators append every generation they start, with
its x-request-id, to one log, so a request that ran twice shows.

Prints a report and exits non-zero when a request was lost (no answer at all), a generation
ran twice, the gateway crashed or did not exit 0 on SIGTERM, or its RSS grew more than 10 %
after warm-up.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def free_ports(n):
    """n consecutive free loopback ports (the simulator takes port..port+replicas-1)."""
    for _ in range(100):
        base = random.randint(20000, 60000)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def wait_ready(proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("READY "):
            return json.loads(line[6:])
    raise RuntimeError(f"{what} did not get ready")


class Sim:
    def __init__(self, binary, port, name, log):
        self.args = [binary, "--port", str(port), "--replicas", "2", "--pod-name", name,
                     "--gpu-profile", "tiny", "--keep-alive-timeout-ms", "5000",
                     "--generation-log", log]
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        wait_ready(self.proc, "infergate-sim")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def config_text(ports, generation):
    eps = "".join(
        f'  - {{name: s{i}, address: "127.0.0.1:{p}", labels: {{app: llm}}}}\n'
        for i, p in enumerate(ports))
    return (f"# generation {generation}\n"
            "apiVersion: infergate.dev/v1alpha1\nkind: StaticEndpoints\nmetadata: {name: e}\n"
            f"spec:\n  endpoints:\n{eps}---\n"
            "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
            "metadata: {name: llm}\nspec: {targetPorts: [{number: 8000}], "
            "selector: {matchLabels: {app: llm}}}\n")


def write_config(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.outcomes = Counter()  # "200", "502", "aborted by client", "lost: ..."

    def add(self, outcome):
        with self.lock:
            self.sent += 1
            self.outcomes[outcome] += 1


def one_request(port, kind, request_id, stats):
    body = {"model": MODEL, "prompt": "soak " + request_id, "max_tokens": random.randint(4, 48),
            "ignore_eos": True, "stream": kind != "whole"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v1/completions", json.dumps(body),
                     {"content-type": "application/json", "x-request-id": request_id})
        res = conn.getresponse()
        if kind == "whole" or res.status != 200:
            res.read()
            stats.add(str(res.status))
            return
        if kind == "abort":
            res.fp.readline()  # the first line of the stream, then the client leaves
            stats.add("aborted by client")
            return
        text = b""
        while True:
            piece = res.read(64 if kind == "slow" else 65536)
            if not piece:
                break
            text += piece
            if kind == "slow":
                time.sleep(0.01)
        if b"[DONE]" in text:
            stats.add("200 stream complete")
        elif b'"error"' in text:
            stats.add("200 stream ended with an error event")
        else:
            stats.add("lost: stream cut without an error event")
    except (OSError, http.client.HTTPException) as e:
        stats.add(f"lost: {type(e).__name__}")
    finally:
        conn.close()


def client(port, stop, stats, worker):
    kinds = ["whole"] * 4 + ["stream"] * 4 + ["abort", "slow"]
    n = 0
    while not stop.is_set():
        n += 1
        one_request(port, random.choice(kinds), f"soak-{worker}-{n}", stats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--kill-every", type=float, default=30)
    ap.add_argument("--reload-every", type=float, default=10)
    args = ap.parse_args()
    random.seed(1)
    work = tempfile.mkdtemp(prefix="infergate-soak-")
    log = os.path.join(work, "generations.log")
    config = os.path.join(work, "fleet.yaml")
    base = [free_ports(2), free_ports(2)]
    sims = [Sim(os.path.join(args.build, "bin", "infergate-sim"), base[i], f"sim{i}", log)
            for i in range(2)]
    ports = [base[0], base[0] + 1, base[1], base[1] + 1]
    generation = 0
    write_config(config, config_text(ports, generation))
    gateway = subprocess.Popen(
        [os.path.join(args.build, "bin", "infergate"), "--config", config, "--listen",
         "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--workers", "2", "--drain-timeout-ms",
         "10000", "--outlier-base-ejection-ms", "2000",
         # Only READY is read from stdout: the access log goes to a file beside the logs.
         "--access-log-file", os.path.join(work, "access.log")],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "gateway.log"), "w"), text=True)
    ready = wait_ready(gateway, "infergate")
    port = ready["port"]

    stats = Stats()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(port, stop, stats, w))
               for w in range(args.clients)]
    for t in threads:
        t.start()
    began = time.time()
    warm = began + min(60.0, args.seconds * 0.2)
    rss_after_warmup = None
    rss_samples = []
    next_kill = began + args.kill_every
    next_reload = began + args.reload_every
    kills = 0
    crashed = False
    while time.time() - began < args.seconds:
        time.sleep(0.5)
        now = time.time()
        if gateway.poll() is not None:
            crashed = True
            break
        rss = rss_kb(gateway.pid)
        if now >= warm:
            rss_samples.append(rss)
            if rss_after_warmup is None:
                rss_after_warmup = rss
        if now >= next_kill:
            victim = sims[kills % 2]
            victim.kill()
            victim.start()
            kills += 1
            next_kill += args.kill_every
        if now >= next_reload:
            generation += 1
            write_config(config, config_text(ports, generation))
            next_reload += args.reload_every
    stop.set()
    for t in threads:
        t.join(timeout=120)
    exit_status = None
    if not crashed:
        gateway.send_signal(signal.SIGTERM)
        try:
            exit_status = gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    else:
        exit_status = gateway.returncode
    for s in sims:
        s.kill()

    with open(log) as f:
        ids = Counter(line.split()[0] for line in f if line.strip())
    twice = {k: v for k, v in ids.items() if v > 1}
    lost = sum(v for k, v in stats.outcomes.items() if k.startswith("lost"))
    answered = stats.sent - lost
    rss_end = rss_samples[-1] if rss_samples else 0
    growth = (rss_end / rss_after_warmup - 1) if rss_after_warmup else 0.0
    report = {
        "seconds": args.seconds, "clients": args.clients, "simulator kills": kills,
        "reloads": generation, "requests sent": stats.sent, "requests answered": answered,
        "outcomes": dict(sorted(stats.outcomes.items())), "lost": lost,
        "generations started": sum(ids.values()), "generations run twice": len(twice),
        "gateway crashed": crashed, "gateway exit status on SIGTERM": exit_status,
        "rss after warm-up (KiB)": rss_after_warmup, "rss at the end (KiB)": rss_end,
        "rss growth after warm-up": round(growth, 3),
    }
    print(json.dumps(report, indent=2))
    failed = lost > 0 or twice or crashed or exit_status != 0 or growth > 0.10
    if twice:
        print("ran twice:", list(twice.items())[:10], file=sys.stderr)
    if failed:
        print(f"soak FAILED (logs in {work})", file=sys.stderr)
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
