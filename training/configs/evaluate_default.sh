#!/usr/bin/env bash
# Evaluation of the bundled default model, as reported in the issues' closing notes and README.
# Run from the repository root after training (training/RECIPE.md).
set -euo pipefail
mkdir -p runs/eval
W=engine/models/default.safetensors

# throughput and latency per backend (quiet machine first)
python -m bench throughput --weights "$W" --batches 1,2,4,8,16,32,64,128,256 --steps 20 --threads 2 > runs/eval/throughput.txt

# 20 games at Temperature 0 against Stockfish Skill Level 0 (0.1 s per move) and against a random mover
python -m bench match --engine chessformer:temperature=0 --opponent stockfish:skill=0 --opponent random \
    --games 20 --movetime 0.1 --concurrency 2 --pgn runs/eval/t0_vs_sf0_random.pgn --no-progress > runs/eval/t0_match.json

# rating against temperature (3 temperatures x Stockfish Skill Level 0 and 1), Skill 0 calibrated against Skill 1
python -m bench sweep --temperatures 0.001,0.3,1.0 --opponent stockfish:skill=0 --opponent stockfish:skill=1 \
    --games 20 --calibrate 20 --movetime 0.1 --concurrency 2 --out runs/sweep_default --no-progress > runs/eval/sweep.txt

# the paper's Table 1 on the sweep's games, and the data's entropy figure
python -m bench analyse table1 runs/sweep_default/games.pgn --player "ChessFormer T=" --positions 60 --sf-time 0.2 \
    --json runs/eval/table1.json > runs/eval/table1.md
python -m bench analyse entropy data/human --png runs/eval/entropy_human.png --max-games 200000 > runs/eval/entropy.json
