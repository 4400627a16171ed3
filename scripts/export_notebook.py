#!/usr/bin/python3
"""Executes a percent-format notebook cell by cell and writes <name>.md: markdown cells as
text, code cells as code blocks followed by what they printed, and every PNG the notebook
wrote into its folder linked at the end. Used by `make notebooks`."""
import contextlib
import io
import os
import sys


def cells(text):
    cur, kind = [], "code"
    for line in text.splitlines():
        if line.startswith("# %%"):
            if cur:
                yield kind, cur
            kind, cur = ("markdown" if "[markdown]" in line else "code"), []
        else:
            cur.append(line)
    if cur:
        yield kind, cur


def main(path):
    src = open(path).read()
    # NOTEBOOK_OUT (run_notebooks.sh: notebooks-export/<tier>/ for a tier other than mini) keeps
    # the committed mini-tier export from being overwritten by a smoke-tier run.
    out_dir = os.environ.get("NOTEBOOK_OUT") or os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    before = set(f for f in os.listdir(out_dir) if f.endswith(".png"))
    env = {"__file__": os.path.abspath(path), "__name__": "__main__"}
    md = []
    for kind, lines in cells(src):
        if kind == "markdown":
            md.append("\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in lines).strip())
            continue
        code = "\n".join(lines).strip()
        if not code:
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, path, "exec"), env)
        md.append("```python\n" + code + "\n```")
        if buf.getvalue().strip():
            md.append("```\n" + buf.getvalue().rstrip() + "\n```")
    pngs = sorted(f for f in os.listdir(out_dir) if f.endswith(".png"))
    md.append("## Figures\n\n" + "\n\n".join(f"![{p}]({p})" for p in pngs))
    name = os.path.splitext(os.path.basename(path))[0]
    with open(os.path.join(out_dir, name + ".md"), "w") as f:
        f.write("\n\n".join(md) + "\n")
    print(f"notebooks: ran {path}; wrote {os.path.join(out_dir, name + '.md')} and {len(pngs)} figures "
          f"({len(set(pngs) - before)} new)")


if __name__ == "__main__":
    main(sys.argv[1])
