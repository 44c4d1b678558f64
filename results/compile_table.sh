#!/usr/bin/env bash
# DIR/table.png: DIR/table.tex compiled by pdflatex in an a4 article with 2 cm margins, then rendered
# (a table split over several floats, one a page, as its pages cropped and stacked).
# Usage: bash results/compile_table.sh results/quick   (needs pdflatex and pdftoppm: texlive-latex-base,
# texlive-latex-recommended, poppler-utils)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 RESULTS_DIR" >&2; exit 2; }
dir=$(mktemp -d)
cp "$1/table.tex" "$dir/"
cat > "$dir/doc.tex" <<'TEX'
\documentclass[a4paper]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{booktabs}
\pagestyle{empty}
\begin{document}
\input{table.tex}
\end{document}
TEX
(cd "$dir" && pdflatex -interaction=nonstopmode -halt-on-error doc.tex > /dev/null)
grep -c "Overfull" "$dir/doc.log" || true
grep -c "Float too large" "$dir/doc.log" || true
pdftoppm -png -r 130 "$dir/doc.pdf" "$dir/page"
.venv/bin/python - "$1/table.png" "$dir"/page*.png <<'PY'
import sys
import numpy as np
from PIL import Image
crops = []
for path in sorted(sys.argv[2:]):
    page = Image.open(path).convert("RGB")
    ys, xs = np.nonzero(np.asarray(page.convert("L")) < 250)
    crops.append(page.crop((max(xs.min() - 12, 0), max(ys.min() - 12, 0), xs.max() + 12, ys.max() + 12)))
out = Image.new("RGB", (max(c.width for c in crops), sum(c.height for c in crops)), "white")
y = 0
for c in crops:
    out.paste(c, (0, y))
    y += c.height
out.save(sys.argv[1], optimize=True)
PY
echo "wrote $1/table.png"
