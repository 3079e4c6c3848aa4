"""Copy a study's report files into docs/results/<name>/, with the plotly.min.js its pages load beside them, once.

    python docs/results/collect.py DEST FILE...

A report page loads plotly.js from plotly.min.js in its own folder (one copy per folder, not one inlined per page);
here the pages of several studies share DEST/plotly.min.js, so the committed results stay small.
"""

import shutil
import sys
from pathlib import Path

PLOTLY_JS = "plotly.min.js"


def main(dest: str, *files: str) -> None:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        path = Path(name)
        if path.name == PLOTLY_JS:
            continue
        target = out / (f"{path.parent.parent.name}-{path.name}" if path.parent.name == "reports" else path.name)
        shutil.copyfile(path, target)
        if path.suffix == ".html" and (path.parent / PLOTLY_JS).exists():
            shutil.copyfile(path.parent / PLOTLY_JS, out / PLOTLY_JS)
        print(f"{name} -> {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
