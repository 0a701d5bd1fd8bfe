#!/usr/bin/env python3
"""Checks every #include "..." under src/ against the library graph in src/LAYERS.

A file belongs to the longest component (folder) of the table that holds it; it may include
files of its own component and of the components its line names. Exits 1 listing each include
that is not allowed, each file outside every component, and any cycle in the table.
Usage: scripts/layering.py [--graph]   (--graph prints the table as a Graphviz digraph)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_table():
    table = {}
    for n, line in enumerate((SRC / "LAYERS").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, deps = line.partition(":")
        if not sep or not name.strip():
            sys.exit(f"src/LAYERS:{n}: expected 'component: dependencies'")
        table[name.strip()] = set(deps.split())
    for name, deps in table.items():
        for d in deps - table.keys():
            sys.exit(f"src/LAYERS: {name} names {d}, which is not a component")
    return table


def component_of(path, table):
    best = None
    for name in table:
        if path == name or path.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


def find_cycle(table):
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for d in sorted(table[node]):
            if state.get(d) == "open":
                return trail + [node, d]
            if d not in state:
                found = visit(d, trail + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(table):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def main():
    table = read_table()
    if "--graph" in sys.argv:
        print("digraph layers {\n  rankdir=BT;")
        for name in sorted(table):
            for d in sorted(table[name]):
                print(f'  "{name}" -> "{d}";')
        print("}")
        return 0
    problems = []
    cycle = find_cycle(table)
    if cycle:
        problems.append("src/LAYERS: a cycle: " + " -> ".join(cycle))
    files = sorted(p for p in SRC.rglob("*") if p.suffix in (".cpp", ".hpp", ".h"))
    for f in files:
        rel = f.relative_to(SRC).as_posix()
        own = component_of(rel, table)
        if own is None:
            problems.append(f"src/{rel}: in no component of src/LAYERS")
            continue
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            if not (SRC / target).exists():
                continue  # a header next to the file, or generated: not a component's
            theirs = component_of(target, table)
            if theirs is None:
                problems.append(f"src/{rel}:{n}: includes {target}, in no component")
            elif theirs != own and theirs not in table[own]:
                problems.append(f"src/{rel}:{n}: {own} may not include {target} ({theirs})")
    for p in problems:
        print(p)
    if problems:
        print(f"layering: {len(problems)} problem(s); the graph is src/LAYERS")
        return 1
    print(f"layering: {len(files)} files follow src/LAYERS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
