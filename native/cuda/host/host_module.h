// HOST EMULATION ONLY: force-included (g++ -include) into addon.cc by the host build, so that the
// module addon.cc registers also carries the fake runtime's test controls (host_exports.cc). napi.h is
// included first (addon.cc's own include is then a no-op) and its NODE_API_MODULE replaced by one that
// registers addon.cc's exports and then adds ours; the real build's addon has no such exports.
#pragma once
#include <napi.h>

namespace ibhost {
/** Adds hostEmulation (a description), hostEmulationSetCapacity(bytes) → the previous capacity,
 *  hostEmulationSetDeferred(items) → the previous queue depth (0: synchronous; fake_runtime.h),
 *  hostEmulationSetSchedule("in-order" | "reversed" | "shuffled", seed) → the previous schedule's name,
 *  hostEmulationSetGridCaps(x, yz) → the previous [x, yz] (kernels.h's GridCaps),
 *  hostEmulationLaunches() → { kernel name: launches so far },
 *  hostEmulationLibraryObjects() → { kind: cuDNN/cuBLAS objects alive } and hostEmulationLibraryCalls() →
 *  { library function (and algorithm): calls so far }. */
Napi::Object addHostEmulationExports(Napi::Env env, Napi::Object exports);
}  // namespace ibhost

#undef NODE_API_MODULE
#define NODE_API_MODULE(modname, regfunc)                                                      \
  static Napi::Object ibHostRegister(Napi::Env env, Napi::Object exports) {                    \
    return ::ibhost::addHostEmulationExports(env, regfunc(env, exports));                      \
  }                                                                                            \
  static napi_value ibHostModule(napi_env env, napi_value exports) {                           \
    return Napi::RegisterModule(env, exports, ibHostRegister);                                 \
  }                                                                                            \
  NAPI_MODULE(modname, ibHostModule)
