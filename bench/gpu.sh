#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md, one part at a time (each ends inside ten minutes on an
# H100, compilation included): bash bench/gpu.sh OUT_DIR core|sam2|training|training_bf16
# Every script writes its JSON and its printed table to OUT_DIR; a step that runs past its limit is
# stopped and the next one runs.
set -u
usage='usage: bench/gpu.sh OUT_DIR core|sam2|training|training_bf16'
out=${1:?$usage}
part=${2:?$usage}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date +%T))"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    echo "rc=$?" >> "$out/$name.log"
    tail -n 12 "$out/$name.log"
}

case $part in
core)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    step core_tiny 60 python3 bench/core.py --variant tiny --rounds 30 --decodes 50 --out "$out/core_tiny.json"
    step core_vit_b 150 python3 bench/core.py --variant vit_b --rounds 10 --decodes 50 --compile \
        --out "$out/core_vit_b.json"
    step core_vit_h 240 python3 bench/core.py --variant vit_h --rounds 5 --decodes 50 --compile \
        --out "$out/core_vit_h.json"
    ;;
sam2)
    step sam2_vs_sam1 200 python3 bench/sam2_vs_sam1.py --sam1 vit_b vit_l vit_h --sam2 t s b+ l \
        --rounds 10 --decodes 50 --out "$out/sam2_vs_sam1.json"
    ;;
training)
    step training_vit_b 420 python3 bench/training.py --variant vit_b --batch 4 --steps 10 \
        --out "$out/training_vit_b.json"
    ;;
training_bf16)
    step training_vit_b_bf16 420 python3 bench/training.py --variant vit_b --batch 4 --steps 10 \
        --mixed-precision bf16 --out "$out/training_vit_b_bf16.json"
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac
