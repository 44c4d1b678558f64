#!/usr/bin/env bash
# DIR/table.png: DIR/table.tex compiled by pdflatex in an a4 article with 2 cm margins, then rendered.
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
pdftoppm -png -r 130 -singlefile "$dir/doc.pdf" "$dir/page"
.venv/bin/python - "$dir/page.png" "$1/table.png" <<'PY'
import sys
import numpy as np
from PIL import Image
im = np.asarray(Image.open(sys.argv[1]).convert("L"))
ys, xs = np.nonzero(im < 250)
box = (max(xs.min() - 12, 0), max(ys.min() - 12, 0), xs.max() + 12, ys.max() + 12)
Image.open(sys.argv[1]).convert("RGB").crop(box).save(sys.argv[2], optimize=True)
PY
echo "wrote $1/table.png"
