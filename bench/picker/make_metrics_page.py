#!/usr/bin/env python3
"""Writes a vLLM /metrics page of at least TARGET bytes for the scrape-cost benchmark.

    make_metrics_page.py BASE_DUMP TARGET_BYTES OUT

BASE_DUMP is a real vLLM page (a fixture under tests/fixtures/metrics/vllm/). When it
is shorter than TARGET_BYTES, every `vllm:` series is repeated with one more label,
engine="1", engine="2", ... (what a vLLM server with several data-parallel engines exposes),
each copy placed inside its own family so the page stays valid Prometheus text, until the
page is long enough. Families other than vllm: (python_gc, process_*) appear once.
"""
import re
import sys


def families(text):
    """[(name, comment_lines, sample_lines)] in page order."""
    out, index = [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            name = parts[2] if len(parts) > 2 else ""
        else:
            name = re.match(r"[^{ ]+", line).group(0)
            for suffix in ("_bucket", "_sum", "_count", "_created"):
                if name.endswith(suffix) and name[: -len(suffix)] in index:
                    name = name[: -len(suffix)]
                    break
        if name not in index:
            index[name] = len(out)
            out.append((name, [], []))
        (out[index[name]][1] if line.startswith("#") else out[index[name]][2]).append(line)
    return out


def with_label(sample, label):
    """The sample line with `label` (k="v") added to its label set."""
    name_end = re.match(r"[^{ ]+", sample).end()
    if sample[name_end:name_end + 1] == "{":
        close = sample.index("}", name_end)
        inner = sample[name_end + 1:close]
        joined = label if not inner else inner.rstrip(",") + "," + label
        return sample[:name_end] + "{" + joined + "}" + sample[close + 1:]
    return sample[:name_end] + "{" + label + "}" + sample[name_end:]


def render(fams, copies):
    lines = []
    for name, comments, samples in fams:
        lines += comments + samples
        if name.startswith("vllm:"):
            for k in range(1, copies + 1):
                lines += [with_label(s, f'engine="{k}"') for s in samples]
    return "\n".join(lines) + "\n"


def main():
    base, target, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fams = families(open(base, encoding="utf-8").read())
    copies = 0
    page = render(fams, copies)
    while len(page) < target:
        copies += 1
        page = render(fams, copies)
    open(out, "w", encoding="utf-8").write(page)
    print(f"{out}: {len(page)} bytes, {page.count(chr(10))} lines, base {base} plus {copies} engine copies")


if __name__ == "__main__":
    main()
