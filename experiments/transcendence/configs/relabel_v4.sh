#!/bin/bash
# Attempt 5's diagnostic: the same 300,000 positions of pool_v4's diverse expert games, labelled
# by the experts (played) and by Stockfish depth 1 (reference), one model trained on each for
# 8 min. Needs runs/transcend_pool_v4/experts.pgn and pool.pgn (python -m experiments.transcendence run
# --config experiments/transcendence/configs/pool_v4.toml). About 35 min on 2 cores.
set -euo pipefail
R=runs/relabel_v4
python -m experiments.transcendence diagnose relabel runs/transcend_pool_v4/experts.pgn --out $R --positions 300000 --seed 0
for L in played reference; do
  python -m chessformer.training prepare $R/$L.pgn --out $R/data_$L --min-plies 1 --keep-duplicates --legal-moves --no-progress
  python -m chessformer.training train --config experiments/transcendence/configs/relabel_v4.toml --data $R/data_$L --out $R/run_$L
  python -m chessformer.training export $R/run_$L/checkpoint.pt --out $R/model_$L.safetensors --fp32
done
python -m experiments.transcendence diagnose agreement runs/transcend_pool_v4/pool.pgn --positions 1000 \
  --weights $R/model_played.safetensors --weights $R/model_reference.safetensors --json $R/agreement.json
