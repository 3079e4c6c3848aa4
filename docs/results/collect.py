"""Copy a study's report files into docs/results/<name>/, sharing one plotly.min.js instead of one inlined per page.

    python docs/results/collect.py DEST FILE...

Each HTML report is self-contained in its run folder (it opens offline); here the
~4.6 MB plotly.js bundle each page inlines is written once as DEST/plotly.min.js
and the pages point to it, so the committed results stay small.
"""

import re
import shutil
import sys
from pathlib import Path

BUNDLE = re.compile(r"<script>\s*/\*\*\s*\* plotly\.js v.*?</script>", re.DOTALL)


def main(dest: str, *files: str) -> None:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        path = Path(name)
        target = out / (f"{path.parent.parent.name}-{path.name}" if path.parent.name == "reports" else path.name)
        if path.suffix != ".html":
            shutil.copyfile(path, target)
            continue
        text = path.read_text()
        bundle = BUNDLE.search(text)
        if bundle:
            script = bundle.group(0)
            (out / "plotly.min.js").write_text(script[len("<script>"):-len("</script>")])
            text = text.replace(script, '<script src="plotly.min.js"></script>')
        target.write_text(text)
        print(f"{name} -> {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
