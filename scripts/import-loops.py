"""Import loops between the modules of one crate: the graph drawn from `use crate::…`,
`crate::…` and `super::…` paths (tests and comments left out), and its strongly connected
components. Usage: python3 scripts/import-loops.py src   (or cli/src, http/src, src-tauri/src).
Prints each loop with its edges, then "loops: N"."""
import os, re, sys
from itertools import chain
root = sys.argv[1]
mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split('/')
            if parts[-1] in ('mod', 'lib', 'main'):
                parts = parts[:-1]
            mods['::'.join(parts)] = open(p).read()
def resolve(path):
    # longest known module prefix of path
    segs = path.split('::')
    for i in range(len(segs), 0, -1):
        m = '::'.join(segs[:i])
        if m in mods:
            return m
    return None
edges = {m: set() for m in mods}
for m, text in mods.items():
    text = re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*', '', text, flags=re.S)
    text = re.sub(r'//.*', '', text)
    for use in re.findall(r'use\s+crate::([^;]+);', text):
        # expand braces one level
        base, _, rest = use.partition('{')
        items = [base.strip().rstrip(':')] if not rest else [base.strip().rstrip(':') + '::' + x.strip().split(' as ')[0] for x in rest.rstrip('}').split(',') if x.strip()]
        for it in items:
            t = resolve(it.strip(':').replace('::{', '::'))
            if t and t != m and not m.startswith(t + '::') and t != '':
                edges[m].add(t)
    for ref in re.findall(r'crate::([A-Za-z_][A-Za-z0-9_:]*)', text):
        t = resolve(ref)
        if t and t != m and not m.startswith(t + '::'):
            edges[m].add(t)
    parent = '::'.join(m.split('::')[:-1])
    for ref in re.findall(r'super::([A-Za-z_][A-Za-z0-9_:]*)', text):
        full = (parent + '::' + ref) if parent else ref
        t = resolve(full)
        if t and t != m and not m.startswith(t + '::'):
            edges[m].add(t)
# strongly connected components (Tarjan)
index, low, st, on, comps, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v] = low[v] = i[0]; i[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in edges: continue
        if w not in index:
            sc(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = st.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: comps.append(sorted(c))
for v in edges:
    if v not in index: sc(v)
for c in comps:
    print(len(c), 'modules in a loop:', ', '.join(x or '(root)' for x in c))
    for a in c:
        print('   ', a or '(root)', '->', ', '.join(sorted(x for x in edges[a] if x in c)))
print('loops:', len(comps))
