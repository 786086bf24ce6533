#!/usr/bin/env bash
# GPU check for infobatch: which WebGPU adapter Dawn finds, the training throughput of CIFAR ResNet-18
# (32x32x3, batch 128) on the `webgpu` backend, and the same model trained by PyTorch on the same GPU
# (when `python3 -c "import torch"` works), as img/s and their ratio.
#
# Runs from the hand-over folder that `npm run gpu-check:bundle -- --webgpu` packs (infobatch-gpu-check.tar.gz: a
# Node binary, the single-file bundle infobatch.mjs, dawn.node, the Vulkan loader and this script), on a
# Linux x86-64 machine with no Node.js and no internet:
#     tar xzf infobatch-gpu-check.tar.gz && infobatch-gpu-check/gpu-check.sh
# or from a checkout with `npm install` done (uses the repository's node and sources through tsx).
#
# Settings (environment): GPU_CHECK_MODEL (ResNet18), GPU_CHECK_BATCH (128), GPU_CHECK_WARMUP (3),
# GPU_CHECK_STEPS (10), GPU_CHECK_BACKEND (webgpu; cuda runs gpu-check-cuda.sh instead), PYTHON (python3), GPU_CHECK_TORCH_DEVICE (cuda),
# GPU_CHECK_TORCH_STEPS (20).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The cuda backend has its own, longer check (build on the machine, tests, benchmark, training).
if [[ "${GPU_CHECK_BACKEND:-}" == cuda ]]; then exec bash "$here/gpu-check-cuda.sh" "$@"; fi
model=${GPU_CHECK_MODEL:-ResNet18}
batch=${GPU_CHECK_BATCH:-128}
warmup=${GPU_CHECK_WARMUP:-3}
steps=${GPU_CHECK_STEPS:-10}
backend=${GPU_CHECK_BACKEND:-webgpu}
python=${PYTHON:-python3}
torch_device=${GPU_CHECK_TORCH_DEVICE:-cuda}
torch_steps=${GPU_CHECK_TORCH_STEPS:-20}

if [[ -f "$here/infobatch.mjs" ]]; then
  node_bin="$here/bin/node"
  [[ -x "$node_bin" ]] || node_bin=$(command -v node || true)
  [[ -n "$node_bin" ]] || { echo "gpu-check: no Node binary in $here/bin and none on the PATH" >&2; exit 1; }
  bench=("$node_bin" "$here/infobatch.mjs" gpu-check-bench)
  torch_script="$here/gpu-check-torch.py"
  # The Vulkan loader and glvnd's libEGL and libGLdispatch (without which the NVIDIA Vulkan driver
  # cannot create an instance) ride along for machines that lack them; the machine's own copies win.
  missing_libs=$(mktemp -d)
  trap 'rm -rf "$missing_libs"' EXIT
  for lib in libvulkan.so.1 libGLdispatch.so.0 libEGL.so.1; do
    if ! ldconfig -p 2>/dev/null | grep -q "$lib " && [[ -f "$here/lib/$lib" ]]; then
      ln -s "$here/lib/$lib" "$missing_libs/$lib"
      echo "using the bundled $lib"
    fi
  done
  export LD_LIBRARY_PATH="$missing_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif [[ -f "$here/../package.json" && -d "$here/../node_modules/tsx" ]]; then
  cd "$here/.."
  bench=(node --import tsx scripts/gpu-check-bench.ts)
  torch_script="scripts/gpu-check-torch.py"
else
  echo "gpu-check: run me from the hand-over folder (npm run gpu-check:bundle -- --webgpu) or a checkout with npm install done" >&2
  exit 1
fi

# NVIDIA containers mount the driver's Vulkan manifest outside the loader's search path.
if [[ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]]; then
  found=
  for dir in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    [[ -f "$dir/nvidia_icd.json" ]] && found=1
  done
  for manifest in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [[ -z "$found" && -f "$manifest" ]]; then
      export VK_DRIVER_FILES="$manifest" VK_ICD_FILENAMES="$manifest"
      echo "using the NVIDIA Vulkan driver manifest $manifest"
      found=1
    fi
  done
fi

echo "== machine"
uname -srm
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi

echo "== WebGPU adapter"
"${bench[@]}" --probe 2> >(grep -v 'artificially reduced' >&2) || echo "(no adapter: the webgpu run below will fail)"

echo "== auto's choice"
"${bench[@]}" --backend auto --model ResNetTiny --batch 2 --warmup 1 --steps 1 2> >(grep -v 'artificially reduced' >&2) | grep '^backend:' || true

echo "== $model, batch $batch, tfjs on $backend"
webgpu_log=$(mktemp)
torch_log=$(mktemp)
trap 'rm -rf "$webgpu_log" "$torch_log" ${missing_libs:+"$missing_libs"}' EXIT
if ! "${bench[@]}" --backend "$backend" --model "$model" --batch "$batch" --warmup "$warmup" --steps "$steps" \
  2> >(grep -v 'artificially reduced' >&2) | tee "$webgpu_log"; then
  echo "the tfjs $backend run failed (see above)"
fi
tfjs_json=$(grep '^GPU_CHECK ' "$webgpu_log" | tail -1 | cut -d' ' -f2- || true)

torch_json=
echo "== $model, batch $batch, PyTorch"
if [[ "$model" != ResNet18 ]]; then
  echo "skipped: the PyTorch side has ResNet18 only"
elif "$python" -c "import torch" 2>/dev/null; then
  if "$python" "$torch_script" --device "$torch_device" --batch "$batch" --steps "$torch_steps" | tee "$torch_log"; then
    torch_json=$(grep '^GPU_CHECK ' "$torch_log" | cut -d' ' -f2- | paste -sd, -)
  else
    echo "PyTorch run failed (see above)"
  fi
else
  echo "skipped: '$python -c \"import torch\"' fails here"
fi

echo "== summary"
# Node does the arithmetic: the hand-over has it, where python or awk's JSON skills may be missing.
"${bench[0]}" -e '
  const tfjs = process.argv[1] ? JSON.parse(process.argv[1]) : null;
  const torch = JSON.parse(`[${process.argv[2]}]`);
  const line = (label, r) => console.log(`${label.padEnd(40)} ${r.imagesPerSecond.toFixed(1).padStart(9)} img/s  (median step ${(r.medianStepSeconds * 1000).toFixed(1)} ms)`);
  if (tfjs) {
    console.log(`adapter: ${tfjs.adapter ?? tfjs.backend}`);
    line(`tfjs ${tfjs.backend}, ${tfjs.model}, batch ${tfjs.batch}`, tfjs);
  } else console.log("tfjs: no result");
  for (const r of torch) {
    line(`PyTorch ${r.torch} ${r.precision} on ${r.deviceName}`, r);
    if (tfjs) console.log(`${"".padEnd(40)} tfjs/PyTorch-${r.precision} ratio: ${(tfjs.imagesPerSecond / r.imagesPerSecond).toFixed(3)}`);
  }
  if (!tfjs) process.exitCode = 1;
' "$tfjs_json" "${torch_json}"
