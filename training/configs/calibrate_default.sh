#!/usr/bin/env bash
# The bundled model's strength table for UCI_LimitStrength / UCI_Elo (issue: strength control), written
# into engine/models/default.json's metadata (the tensors and their sha256 do not change), then verified
# at three requests across the measured range with new games. Run from the repository root after
# training/configs/evaluate_default.sh, on a quiet machine (Stockfish plays at 0.1 s a move); resumable.
# The ladder of opponents ties the model's weak settings to the paper's Stockfish anchors (Skill 1 = 1554):
# the random mover, Stockfish Skill 0 playing a random legal move 75% / 50% / 25% of the time, Skill 0, Skill 1.
set -euo pipefail
export PATH="$PATH:/usr/games"
W=${W:-engine/models/default.safetensors}
RUNS=${RUNS:-runs/calibrate_default}
OUT=${OUT:-results/default_model}
ladder=(--opponent random --opponent stockfish:skill=0,random=0.75 --opponent stockfish:skill=0,random=0.5
        --opponent stockfish:skill=0,random=0.25 --opponent stockfish:skill=0 --opponent stockfish:skill=1)
python -m chessformer.bench calibrate --weights "$W" --ratings 2700 --scale fide \
    --temperatures 0.001,0.5,1.0,1.5,2.0 "${ladder[@]}" --games 12 --calibrate 30 \
    --movetime 0.1 --max-moves 89 --openings bench/openings/openings.pgn --concurrency 2 \
    --out "$RUNS" --write "$W" --no-progress > "$OUT/calibration.md"
# the same command again resumes (no new calibration games) and verifies the table now in the bundled model
python -m chessformer.bench calibrate --weights "$W" --ratings 2700 --scale fide \
    --temperatures 0.001,0.5,1.0,1.5,2.0 "${ladder[@]}" --games 12 --calibrate 30 \
    --movetime 0.1 --max-moves 89 --openings bench/openings/openings.pgn --concurrency 2 \
    --out "$RUNS" --write "$W" --verify auto --verify-games 12 --no-progress > "$OUT/calibration.md"
cp "$RUNS/calibration.json" "$OUT/calibration.json"
mkdir -p "$OUT/games" && cp "$RUNS/games.pgn" "$OUT/games/calibration.pgn" && cp "$RUNS/verify.pgn" "$OUT/games/verify.pgn"
