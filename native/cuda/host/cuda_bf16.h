// HOST EMULATION ONLY. Not NVIDIA's header: bfloat16 storage and the two conversions kernels.cu uses,
// with CUDA's rounding (to nearest, ties to even; NaN stays NaN).
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16_rn(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  // NaN: keep the sign and the top payload bits, and make sure it stays a (quiet) NaN after truncation.
  if ((bits & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{static_cast<uint16_t>((bits >> 16) | 0x0040u)};
  uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return __nv_bfloat16{static_cast<uint16_t>(rounded >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 value) {
  uint32_t bits = static_cast<uint32_t>(value.bits) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}
