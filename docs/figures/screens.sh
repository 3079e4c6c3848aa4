#!/usr/bin/env bash
# Screenshots of the report pages by headless Chromium (apt-get install chromium): a search study, the staged rule
# on the same space and cache, and their comparison, at the quickstart's fidelity. Trains both studies (about five
# minutes on the 2-core machine; again it reuses them), writes their reports and the comparison, then
# docs/figures/{search,staged,compare}.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/screens}
DSE=.venv/bin/dse
FIDELITY=(--env InvertedPendulum-v4 --seeds 2 --steps 2500 --learning-starts 500 --critic-width 64 --batch-size 128
          --eval-every 500 --eval-episodes 3 --final-eval-episodes 5 --baseline-width 64 --space-widths 16,32,64
          --space-core-bits 2..4 --space-input-bits 4..8 --workers 2 --cache "$OUT/cache")
$DSE run "${FIDELITY[@]}" --budget 12 --out "$OUT/search"
$DSE run "${FIDELITY[@]}" --strategy staged --budget 45 --out "$OUT/staged"
$DSE compare "$OUT/search" "$OUT/staged" --out "$OUT/compare" >/dev/null

shoot() {  # page, png, height in pixels
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000 \
        --window-size=1400,"$3" --screenshot="$2" "file://$(realpath "$1")" 2>/dev/null
}
shoot "$OUT/search/reports/index.html" docs/figures/search.png 1500
shoot "$OUT/staged/reports/index.html" docs/figures/staged.png 1500
shoot "$OUT/compare/compare.html" docs/figures/compare.png 2300
