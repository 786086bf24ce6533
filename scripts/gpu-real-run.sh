#!/usr/bin/env bash
# The real training run of docs/gpu-check.md, on a GPU machine with no Node.js and no internet, from the
# hand-over of `npm run gpu-check:bundle`: full Fashion-MNIST (60k/10k), ResNet-18, batch 256, the
# baseline and InfoBatch r = 0.5, δ = 0.875, seed 0, on the cuda backend, through `infobatch sweep`,
# which ends with the report (best accuracy, wall time, share of sample-steps saved).
#     tar xJf infobatch-gpu-check.tar.xz -C /tmp/ho && bash /tmp/ho/infobatch-gpu-check/gpu-real-run.sh
# The runs live in logs/, saved_models/ and figures/ of the working directory, so a second call resumes
# an interrupted run and skips finished ones. Before GPU_RUN_SECONDS the sweep gets SIGTERM (the running
# batch ends, the run is marked interrupted and stays resumable), so the logs and run records reach $OUT
# before the device call's own limit.
# gpu-check-cuda.sh runs it as its step 5, with the epochs that fit; on its own it is the call that resumes.
# What comes back under $OUT: gpu-real-run.log (the sweep's output, the report at its end) and
# gpu-real-run.tar.gz (logs/, the run records saved_models/*/run.json without the models, figures/), two
# files of the 8 the device tool returns; `tar xzf` it here and `infobatch report` reads it.
# Settings (environment): GPU_RUN_EPOCHS (20), GPU_RUN_SECONDS (540), GPU_RUN_PRECISION (fp32),
# GPU_RUN_RATIOS (0.5), GPU_RUN_BATCH (256), GPU_CHECK_DATA (see gpu-data.sh), PYTHON (python3), OUT (where
# the logs go), INFOBATCH_CUDA_ADDON (the addon; default: the hand-over's build, made here if missing);
# for a rehearsal on a CPU: GPU_RUN_BACKEND (cuda), GPU_RUN_MODEL (ResNet18) and GPU_RUN_ARGS (more sweep
# flags, e.g. "--train_limit 512 --test_limit 256").
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:-$(mktemp -d)}
epochs=${GPU_RUN_EPOCHS:-20}
seconds=${GPU_RUN_SECONDS:-540}
precision=${GPU_RUN_PRECISION:-fp32}
ratios=${GPU_RUN_RATIOS:-0.5}
batch=${GPU_RUN_BATCH:-256}
backend=${GPU_RUN_BACKEND:-cuda}
model=${GPU_RUN_MODEL:-ResNet18}
read -r -a extra <<<"${GPU_RUN_ARGS:-}"
node_bin="$here/bin/node"
[[ -x "$node_bin" ]] || node_bin=$(command -v node || true)
[[ -n "$node_bin" ]] || { echo "gpu-real-run: no Node binary in $here/bin and none on the PATH"; exit 2; }
export INFOBATCH_CUDA_ADDON=${INFOBATCH_CUDA_ADDON:-$here/native/cuda/build/infobatch_cuda.node}
export NODE_INCLUDE_DIR="$here/include/node"
# shellcheck source=gpu-data.sh
source "$here/gpu-data.sh"
find_gpu_data
[[ -n "$GPU_DATA" ]] || { echo "gpu-real-run: no Fashion-MNIST found (carry build/gpu-carry, or set GPU_CHECK_DATA)"; exit 2; }
echo "gpu-real-run: $(date -u +%FT%TZ), data $GPU_DATA, $model, batch $batch, $epochs epochs, ratios $ratios, $backend $precision, stop after ${seconds}s"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

if [[ $backend == cuda && ! -f "$INFOBATCH_CUDA_ADDON" ]]; then
  INFOBATCH_CUDA_ARCH=${INFOBATCH_CUDA_ARCH:-sm_90} "$node_bin" "$here/scripts/build-cuda.mjs" --strict || { echo "gpu-real-run: the cuda addon did not build"; exit 1; }
fi

timeout -s TERM -k 30 "$seconds" "$node_bin" "$here/infobatch.mjs" sweep --backend "$backend" --precision "$precision" --dataset fashion-mnist \
  --data_dir "$GPU_DATA" --model "$model" --train_batch_size "$batch" --num_epoch "$epochs" --ratios "$ratios" --delta 0.875 --seed 0 "${extra[@]}" 2>&1 |
  grep --line-buffered -v 'artificially reduced' | tee "$out/gpu-real-run.log"
status=${PIPESTATUS[0]}
[[ $status -eq 124 ]] && echo "gpu-real-run: stopped after ${seconds}s; the same call resumes"

# What comes back: the epoch logs, the run records and the figures in one archive (not the models: too big).
records=(saved_models/*/run.json)
[[ -f ${records[0]} ]] || records=()
tar czf "$out/gpu-real-run.tar.gz" --ignore-failed-read logs "${records[@]}" figures 2>/dev/null
echo "gpu-real-run: $out/gpu-real-run.tar.gz: $(tar tzf "$out/gpu-real-run.tar.gz" 2>/dev/null | grep -vc '/$') files"
exit "$status"
