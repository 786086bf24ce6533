# Sourced by gpu-check-cuda.sh and gpu-real-run.sh: find_gpu_data sets GPU_DATA to a folder holding
# Fashion-MNIST's four idx files (plain or .gz), or to "" when there is none. Looks in, in order:
# $GPU_CHECK_DATA; build/gpu-carry/fashion-mnist of the working directory (the xz'd idx files that
# `npm run gpu-check:bundle` packs to carry, decompressed once into $TMPDIR); ./gpu-data/fashion-mnist;
# Debian's /usr/share/datasets/fashion-mnist.
find_gpu_data() {
  GPU_DATA=${GPU_CHECK_DATA:-}
  [[ -n "$GPU_DATA" ]] && return 0
  local carried="$PWD/build/gpu-carry/fashion-mnist"
  if [[ -f "$carried/train-images-idx3-ubyte.xz" ]]; then
    GPU_DATA="${TMPDIR:-/tmp}/infobatch-fashion-mnist"
    mkdir -p "$GPU_DATA"
    # Files decompressed from another pack (a rehearsal's subset, an older set) are not reused: the pack's
    # source.json, copied there once all four are out, says which one they came from.
    if ! cmp -s "$carried/source.json" "$GPU_DATA/source.json"; then rm -f "$GPU_DATA"/*; fi
    local packed plain
    for packed in "$carried"/*.xz; do
      plain="$GPU_DATA/$(basename "$packed" .xz)"
      [[ -s "$plain" ]] && continue
      # xz where installed, else Python's lzma module.
      { xz -dc "$packed" >"$plain.part" 2>/dev/null ||
        "${PYTHON:-python3}" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$packed" "$plain.part"; } &&
        mv "$plain.part" "$plain" || { echo "cannot decompress $packed"; GPU_DATA=""; return 1; }
    done
    [[ -f "$carried/source.json" ]] && cp "$carried/source.json" "$GPU_DATA/source.json"
    return 0
  fi
  local candidate
  for candidate in "$PWD/gpu-data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    if [[ -f "$candidate/train-images-idx3-ubyte.gz" || -f "$candidate/train-images-idx3-ubyte" ]]; then
      GPU_DATA=$candidate
      return 0
    fi
  done
}
