#!/usr/bin/env bash
# GPU check of the `cuda` backend, for a fresh Linux x86-64 NVIDIA machine with nvcc but no Node.js and
# no internet. Runs from the hand-over folder that `npm run gpu-check:bundle` packs (bin/node, the
# bundles infobatch.mjs and cuda-tests.mjs, the addon's sources, node-addon-api's and Node's N-API headers):
#     tar xJf infobatch-gpu-check.tar.xz && infobatch-gpu-check/gpu-check-cuda.sh
#
# One call does what a session's 15 minutes of device time allow, most important first, and ends before
# GPU_CHECK_SECONDS: a machine stays warm only 30 s after a call, so a second call cannot count on the
# first one's build or on anyone reading the log in between. Each step has its own time limit, cut to what
# is left before the deadline; a step with too little time left says so and is skipped.
#   1. find the pip nvidia-* headers; build the addon with this machine's nvcc (and check our cuDNN/cuBLAS
#      declarations against the real headers);
#   2. the cuda tests;
#   3. the benchmark targets: tfjs cuda vs PyTorch, ResNet-18 batch 256 in fp32 and bf16, with the GPU time
#      per tfjs kernel (--profile);
#   4. a short real training (Fashion-MNIST, 2 epochs of 20,000 images), which also times an epoch;
#   5. the real run (gpu-real-run.sh: full Fashion-MNIST, baseline vs InfoBatch r = 0.5) with as many epochs
#      as that timing says both runs finish in before the deadline, up to GPU_RUN_EPOCHS;
#   6. with the time left: ResNet-18 batch 128 and ResNet-50 batch 128 against PyTorch, and ResNet-18
#      batch 256 again on the caching allocator (INFOBATCH_CUDA_ALLOCATOR=caching);
#   7. one summary table.
# What comes back under $OUT (the device tool returns at most 8 files): gpu-check-cuda.log (everything),
# build.log, gpu-check-results.jsonl, and from the real run gpu-real-run.log and gpu-real-run.tar.gz.
# Settings (environment): GPU_CHECK_SECONDS (570: end this long after the start, the summary included),
# GPU_CHECK_STEPS (10 timed steps per benchmark), GPU_CHECK_REAL_RUN (1; 0 skips step 5), GPU_RUN_EPOCHS
# (20, the most epochs step 5 runs), GPU_CHECK_DATA (Fashion-MNIST idx folder; default: see gpu-data.sh),
# PYTHON (python3), OUT (a folder for the logs).
# Rehearsal on a CPU machine (docs/gpu-check.md): GPU_CHECK_REHEARSAL=1 with INFOBATCH_CUDA_ADDON set to the
# host-emulation build runs every step with ResNetTiny, small batches and small data, and builds nothing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
steps=${GPU_CHECK_STEPS:-10}
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-570}))
# Kept free at every step for the summary and the copy-out.
reserve=15
log_dir=${OUT:-$(mktemp -d)}
log="$log_dir/gpu-check-cuda.log"
results="$log_dir/gpu-check-results.jsonl"
: >"$log"
: >"$results"
exec > >(tee -a "$log") 2>&1

node_bin="$here/bin/node"
[[ -x "$node_bin" ]] || node_bin=$(command -v node || true)
[[ -n "$node_bin" ]] || { echo "gpu-check-cuda: no Node binary in $here/bin and none on the PATH"; exit 1; }
bundle="$here/infobatch.mjs"
export NODE_INCLUDE_DIR="$here/include/node"

# The models and sizes of each step; a rehearsal shrinks them so that the host emulation gets through.
if [[ ${GPU_CHECK_REHEARSAL:-0} == 1 ]]; then
  [[ -n ${INFOBATCH_CUDA_ADDON:-} ]] || { echo "gpu-check-cuda: a rehearsal needs INFOBATCH_CUDA_ADDON (the host-emulation build)"; exit 2; }
  resnet18=ResNetTiny resnet50=ResNetTiny big_batch=16 small_batch=8 resnet50_batch=4 short_limit=256 full_train=512 test_args=(--test_limit 128)
  export GPU_RUN_MODEL=ResNetTiny GPU_RUN_ARGS="--train_limit $full_train ${test_args[*]}"
else
  export INFOBATCH_CUDA_ADDON="$here/native/cuda/build/infobatch_cuda.node"
  resnet18=ResNet18 resnet50=ResNet50 big_batch=256 small_batch=128 resnet50_batch=128 short_limit=20000 full_train=60000 test_args=()
fi

step() { echo; echo "== $* ($(date -u +%H:%M:%S), $((deadline - SECONDS)) s before the deadline)"; }
# The time limit of a step that may take up to $1 seconds: that, or what is left before the deadline.
limit_for() { local left=$((deadline - SECONDS - reserve)); echo $((left < $1 ? left : $1)); }
# Whether $1 seconds are left for a step; if not, says so (the step is skipped).
have_time() {
  local left=$((deadline - SECONDS - reserve))
  ((left >= $1)) && return 0
  echo "skipped: $((left > 0 ? left : 0)) s left before the deadline, this step needs at least $1 s"
  return 1
}

step machine
uname -srm
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader || true
command -v nvcc && nvcc --version | tail -2

step "pip nvidia-* packages (headers for the check, libraries for the run)"
sites=$("$python" -c 'import site, sysconfig; print("\n".join(site.getsitepackages() + [sysconfig.get_paths()["purelib"]]))' 2>/dev/null | sort -u)
for site in $sites; do
  [[ -d "$site/nvidia" ]] || continue
  echo "$site/nvidia:"; ls "$site/nvidia" | tr '\n' ' '; echo
  for inc in "$site"/nvidia/*/include; do
    [[ -f "$inc/cudnn.h" ]] && export CUDNN_INCLUDE_DIR="$inc"
    [[ -f "$inc/cublas_api.h" ]] && export CUBLAS_INCLUDE_DIR="$inc"
  done
done
echo "cudnn.h in: ${CUDNN_INCLUDE_DIR:-not found}; cublas_api.h in: ${CUBLAS_INCLUDE_DIR:-not found}"

step "build the cuda addon"
if [[ ${GPU_CHECK_REHEARSAL:-0} == 1 ]]; then
  echo "rehearsal: not built; using $INFOBATCH_CUDA_ADDON"
else
  INFOBATCH_CUDA_ARCH=${INFOBATCH_CUDA_ARCH:-sm_90} timeout "$(limit_for 300)" "$node_bin" "$here/scripts/build-cuda.mjs" --strict
  build_status=$?
  [[ -f "$here/native/cuda/build/build.log" ]] && cp "$here/native/cuda/build/build.log" "$log_dir/build.log"
  if [[ $build_status -ne 0 ]]; then echo "build failed: see build.log"; tail -40 "$here/native/cuda/build/build.log"; exit 1; fi
fi

step "cuda tests"
test_status=125
if have_time 60; then
  (cd "$here" && timeout "$(limit_for 150)" "$node_bin" --test --test-reporter=spec cuda-tests.mjs) | tail -60
  test_status=${PIPESTATUS[0]}
fi

bench() {
  step "tfjs cuda: $*"
  have_time 40 || return 0
  timeout "$(limit_for 150)" "$node_bin" "$bundle" gpu-check-bench --backend cuda --warmup 3 --steps "$steps" --eval "$@" 2> >(grep -v 'artificially reduced' >&2) |
    tee /dev/stderr | grep '^GPU_CHECK ' | cut -d' ' -f2- >>"$results"
}
torch() {
  step "PyTorch: $*"
  have_time 40 || return 0
  timeout "$(limit_for 150)" "$python" "$here/gpu-check-torch.py" --steps 20 --eval "$@" | tee /dev/stderr | grep '^GPU_CHECK ' | cut -d' ' -f2- >>"$results"
}
bench --model "$resnet18" --batch "$big_batch" --precision fp32 --profile
torch --model "$resnet18" --batch "$big_batch" --precision fp32 bf16
bench --model "$resnet18" --batch "$big_batch" --precision bf16 --profile

# shellcheck source=gpu-data.sh
source "$here/gpu-data.sh"
find_gpu_data
data=$GPU_DATA
real_epochs=0
step "short real training: Fashion-MNIST ($short_limit images), $resnet18, batch $big_batch, cuda fp32; it times an epoch for the real run"
if [[ -z "$data" ]]; then
  echo "skipped: no Fashion-MNIST (carry build/gpu-carry, or set GPU_CHECK_DATA)"
elif have_time 30; then
  work=$(mktemp -d)
  started=$EPOCHREALTIME
  # Each line stamped with the time it was printed: an epoch's wall time (training, evaluation, checkpoint)
  # is the time between two epoch lines.
  (cd "$work" && timeout "$(limit_for 120)" "$node_bin" "$bundle" train --backend cuda --dataset fashion-mnist --data_dir "$data" --model "$resnet18" \
    --train_batch_size "$big_batch" --num_epoch 2 --train_limit "$short_limit" "${test_args[@]}" --use_info_batch --ratio 0.5 --experiment_name gpu-check 2>&1 |
    grep --line-buffered -v 'artificially reduced' | while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$work/stamped.log")
  cut -d' ' -f2- "$work/stamped.log" | grep -v ' batches, ' | tail -12
  if [[ ${GPU_CHECK_REAL_RUN:-1} == 1 ]]; then
    # Both runs of the sweep at most as long as the baseline (InfoBatch trains fewer samples), each paying
    # the short run's start-up (data, first searches) again; an epoch of the full set as the short run's
    # epoch scaled by the training images (its evaluation too: a margin).
    real_epochs=$("$node_bin" -e '
      const [file, started, available, fullTrain, shortTrain, most] = process.argv.slice(1);
      const ends = require("fs").readFileSync(file, "utf8").split("\n").map((l) => l.split(" ")).filter((w) => /^\d+\/\d+:$/.test(w[2] ?? "") && w[1] === "epoch").map((w) => Number(w[0]));
      if (ends.length < 2) { console.log(0); process.exit(); }
      const shortEpoch = ends[1] - ends[0];
      const startup = ends[0] - Number(started) - shortEpoch;
      const epoch = shortEpoch * Number(fullTrain) / Number(shortTrain);
      const epochs = Math.min(Number(most), Math.floor((Number(available) / 2 - 15 - startup) / epoch));
      console.error(`short run: ${shortEpoch.toFixed(1)} s per epoch of ${shortTrain} images, start-up ${startup.toFixed(1)} s; an epoch of ${fullTrain} about ${epoch.toFixed(1)} s`);
      console.log(Math.max(0, epochs));
    ' "$work/stamped.log" "$started" "$((deadline - SECONDS - reserve))" "$full_train" "$short_limit" "${GPU_RUN_EPOCHS:-20}")
  fi
fi

step "real run: full Fashion-MNIST, $resnet18, batch $big_batch, baseline vs InfoBatch r = 0.5, δ = 0.875, seed 0"
real_status=125
if [[ ${GPU_CHECK_REAL_RUN:-1} != 1 ]]; then
  echo "skipped: GPU_CHECK_REAL_RUN=${GPU_CHECK_REAL_RUN}"
elif ((real_epochs < 3)); then
  # With fewer, InfoBatch prunes nothing (epoch 1 takes all data, and so do those after ⌊δ·epochs⌋).
  echo "skipped: ${real_epochs} epochs of both runs fit before the deadline (or the short training timed none), fewer than the 3 InfoBatch needs to prune"
else
  echo "$real_epochs epochs: what the short training's epoch time lets both runs finish in (at most ${GPU_RUN_EPOCHS:-20})"
  # The sweep gets SIGTERM 10 s before the reserve, time for its running batch to end and its records to be written.
  GPU_RUN_EPOCHS=$real_epochs GPU_RUN_BATCH=$big_batch GPU_RUN_SECONDS=$((deadline - SECONDS - reserve - 10)) bash "$here/gpu-real-run.sh"
  real_status=$?
fi

bench --model "$resnet18" --batch "$small_batch" --precision fp32
torch --model "$resnet18" --batch "$small_batch" --precision fp32
bench --model "$resnet50" --batch "$resnet50_batch" --precision fp32
torch --model "$resnet50" --batch "$resnet50_batch" --precision fp32
# The allocator a device without memory pools falls back to (native/cuda/src/device_allocator.h), on the
# step the pool was timed on above: what a vGPU user gets, and whether it should be the default.
(export INFOBATCH_CUDA_ALLOCATOR=caching; bench --model "$resnet18" --batch "$big_batch" --precision fp32)

step summary
"$node_bin" -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const key = (r) => `${r.model} b${r.batch} ${r.precision}`;
  // The allocator shows where it is not the pool (the fallback, or the last benchmark on purpose).
  const label = (r) => key(r) + (r.allocator && r.allocator !== "CUDA memory pool" ? " caching" : "");
  const torch = new Map(rows.filter((r) => r.framework === "pytorch").map((r) => [key(r), r]));
  const mib = (b) => (b ? (b / 2 ** 20).toFixed(0) + " MiB" : "-");
  console.log("run".padEnd(26), "train img/s".padStart(11), "vs torch".padStart(9), "eval img/s".padStart(11), "vs torch".padStart(9), "GPU/wall ms".padStart(14), "kernels".padStart(8), "peak".padStart(10), "torch peak".padStart(11));
  for (const r of rows.filter((r) => r.framework === "tfjs")) {
    const t = torch.get(key(r));
    const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + "x" : "-");
    console.log(label(r).padEnd(26), r.imagesPerSecond.toFixed(0).padStart(11), ratio(r.imagesPerSecond, t?.imagesPerSecond).padStart(9),
      (r.evalImagesPerSecond ?? 0).toFixed(0).padStart(11), ratio(r.evalImagesPerSecond, t?.evalImagesPerSecond).padStart(9),
      `${(r.gpuMsPerStep ?? 0).toFixed(1)}/${(r.medianStepSeconds * 1000).toFixed(1)}`.padStart(14), String(r.dispatchesPerStep ?? "-").padStart(8),
      mib(r.peakBytes).padStart(10), mib(t?.peakBytes).padStart(11));
    if (r.fallbacks && Object.keys(r.fallbacks).length) console.log("   CPU fallbacks:", JSON.stringify(r.fallbacks));
  }
  for (const t of torch.values()) console.log(`torch ${key(t)}: ${t.imagesPerSecond.toFixed(0)} img/s train, ${(t.evalImagesPerSecond ?? 0).toFixed(0)} eval (${t.torch}, ${t.deviceName})`);
' "$results"
# Whether the tests' GPU part ran or skipped itself (no GPU found), where the tests ran at all.
gpu_tests=""
if ((test_status != 125)); then
  gpu_tests=", GPU part ran"
  grep -q '^cuda GPU tests skipped' "$log" && gpu_tests=", GPU part SKIPPED ($(grep -m1 '^cuda GPU tests skipped' "$log" | cut -d: -f2- | cut -c1-120))"
fi
describe_status() { case $1 in 0) echo passed ;; 124) echo "STOPPED at its time limit" ;; 125) echo "not run" ;; *) echo "FAILED (exit $1)" ;; esac; }
echo "cuda tests: $(describe_status "$test_status")$gpu_tests"
echo "real run: $(describe_status "$real_status")$( ((real_epochs > 0)) && echo ", $real_epochs epochs")"
echo "full log: $log; finished $((deadline - SECONDS)) s before the deadline"
grep -q '"framework":"tfjs"' "$results" || { echo "no tfjs cuda benchmark result"; exit 1; }
exit "$test_status"
