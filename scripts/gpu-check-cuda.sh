#!/usr/bin/env bash
# GPU check of the `cuda` backend, for a fresh Linux x86-64 NVIDIA machine with nvcc but no Node.js and
# no internet. Runs from the hand-over folder that `npm run gpu-check:bundle` packs (bin/node, the
# bundles infobatch.mjs and cuda-tests.mjs, the addon's sources, node-addon-api's and Node's N-API headers):
#     tar xzf infobatch-gpu-check.tar.gz && infobatch-gpu-check/gpu-check-cuda.sh
# Steps, each under its own time limit (about 6 minutes in all): find the pip nvidia-* headers; build
# the addon with this machine's nvcc (and check our cuDNN/cuBLAS declarations against the real headers);
# the cuda tests; the benchmark (tfjs cuda vs PyTorch: ResNet-18 batch 256 and 128 fp32, batch 256 bf16,
# ResNet-50 batch 128 fp32; training and evaluation throughput, GPU vs wall time per step, kernels per
# step, peak memory); a short real training on Fashion-MNIST; one summary at the end.
# Settings (environment): GPU_CHECK_DATA (Fashion-MNIST idx folder; default: see gpu-data.sh), GPU_CHECK_STEPS (10),
# GPU_CHECK_TRAIN_LIMIT (20000), GPU_CHECK_EPOCHS (2), PYTHON (python3), OUT (a folder for the full log).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
steps=${GPU_CHECK_STEPS:-10}
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
export INFOBATCH_CUDA_ADDON="$here/native/cuda/build/infobatch_cuda.node"
export NODE_INCLUDE_DIR="$here/include/node"

step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

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
INFOBATCH_CUDA_ARCH=${INFOBATCH_CUDA_ARCH:-sm_90} timeout 300 "$node_bin" "$here/scripts/build-cuda.mjs" --strict
build_status=$?
[[ -f "$here/native/cuda/build/build.log" ]] && cp "$here/native/cuda/build/build.log" "$log_dir/build.log"
if [[ $build_status -ne 0 ]]; then echo "build failed: see build.log"; tail -40 "$here/native/cuda/build/build.log"; exit 1; fi

step "cuda tests"
(cd "$here" && timeout 240 "$node_bin" --test --test-reporter=spec cuda-tests.mjs) | tail -60
test_status=${PIPESTATUS[0]}

bench() {
  step "tfjs cuda: $*"
  timeout 150 "$node_bin" "$bundle" gpu-check-bench --backend cuda --warmup 3 --steps "$steps" --eval "$@" 2> >(grep -v 'artificially reduced' >&2) |
    tee /dev/stderr | grep '^GPU_CHECK ' | cut -d' ' -f2- >>"$results"
}
torch() {
  step "PyTorch: $*"
  timeout 150 "$python" "$here/gpu-check-torch.py" --steps 20 --eval "$@" | tee /dev/stderr | grep '^GPU_CHECK ' | cut -d' ' -f2- >>"$results"
}
bench --model ResNet18 --batch 256 --precision fp32 --profile
torch --model ResNet18 --batch 256 --precision fp32 bf16
bench --model ResNet18 --batch 256 --precision bf16 --profile
bench --model ResNet18 --batch 128 --precision fp32
torch --model ResNet18 --batch 128 --precision fp32
bench --model ResNet50 --batch 128 --precision fp32
torch --model ResNet50 --batch 128 --precision fp32

step "short real training: Fashion-MNIST, ResNet18, batch 256, cuda fp32"
# shellcheck source=gpu-data.sh
source "$here/gpu-data.sh"
find_gpu_data
data=$GPU_DATA
if [[ -n "$data" ]]; then
  work=$(mktemp -d)
  (cd "$work" && timeout 200 "$node_bin" "$bundle" train --backend cuda --dataset fashion-mnist --data_dir "$data" --model ResNet18 \
    --train_batch_size 256 --num_epoch "${GPU_CHECK_EPOCHS:-2}" --train_limit "${GPU_CHECK_TRAIN_LIMIT:-20000}" --use_info_batch --ratio 0.5 \
    --experiment_name gpu-check 2>&1 | grep -v 'artificially reduced' | tail -12)
else
  echo "skipped: no Fashion-MNIST (carry build/gpu-carry, or set GPU_CHECK_DATA)"
fi

step summary
"$node_bin" -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const key = (r) => `${r.model} b${r.batch} ${r.precision}`;
  const torch = new Map(rows.filter((r) => r.framework === "pytorch").map((r) => [key(r), r]));
  const mib = (b) => (b ? (b / 2 ** 20).toFixed(0) + " MiB" : "-");
  console.log("run".padEnd(26), "train img/s".padStart(11), "vs torch".padStart(9), "eval img/s".padStart(11), "vs torch".padStart(9), "GPU/wall ms".padStart(14), "kernels".padStart(8), "peak".padStart(10), "torch peak".padStart(11));
  for (const r of rows.filter((r) => r.framework === "tfjs")) {
    const t = torch.get(key(r));
    const ratio = (a, b) => (a && b ? (a / b).toFixed(2) + "x" : "-");
    console.log(key(r).padEnd(26), r.imagesPerSecond.toFixed(0).padStart(11), ratio(r.imagesPerSecond, t?.imagesPerSecond).padStart(9),
      (r.evalImagesPerSecond ?? 0).toFixed(0).padStart(11), ratio(r.evalImagesPerSecond, t?.evalImagesPerSecond).padStart(9),
      `${(r.gpuMsPerStep ?? 0).toFixed(1)}/${(r.medianStepSeconds * 1000).toFixed(1)}`.padStart(14), String(r.dispatchesPerStep ?? "-").padStart(8),
      mib(r.peakBytes).padStart(10), mib(t?.peakBytes).padStart(11));
    if (r.fallbacks && Object.keys(r.fallbacks).length) console.log("   CPU fallbacks:", JSON.stringify(r.fallbacks));
  }
  for (const t of torch.values()) console.log(`torch ${key(t)}: ${t.imagesPerSecond.toFixed(0)} img/s train, ${(t.evalImagesPerSecond ?? 0).toFixed(0)} eval (${t.torch}, ${t.deviceName})`);
' "$results"
gpu_tests=ran
grep -q '^cuda GPU tests skipped' "$log" && gpu_tests="SKIPPED ($(grep -m1 '^cuda GPU tests skipped' "$log" | cut -d: -f2- | cut -c1-120))"
echo "cuda tests: $([[ $test_status -eq 0 ]] && echo passed || echo FAILED), GPU part $gpu_tests; full log: $log"
grep -q '"framework":"tfjs"' "$results" || { echo "no tfjs cuda benchmark result"; exit 1; }
exit $test_status
