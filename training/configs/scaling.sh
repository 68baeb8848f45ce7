#!/usr/bin/env bash
# The scaling check behind the ChessFormer-S size (training/RECIPE.md): three sizes, the same wall time each,
# warm-up and cosine over that time; compare their validation loss (runs/scale_*/log.jsonl).
# CONFIG=training/configs/transcript.toml reruns it for the plain transcript model, as first measured.
set -euo pipefail
MINUTES=${MINUTES:-4.5}
run() {  # name n_layer n_head n_embd
    python -m chessformer.training train --config "${CONFIG:-training/configs/default.toml}" --out "runs/scale_$1" \
        --n_layer "$2" --n_head "$3" --n_embd "$4" --max_steps 1000000 --eval_every 1000000 --warmup_steps 20 --val_games 500 \
        --time_limit_minutes "$MINUTES" --schedule_by_time true --no-progress
}
run S 4 4 256
run M 6 5 320
run L 8 7 448
