// HOST EMULATION ONLY: the test controls of the fake runtime, exported by the host build's addon only.
#include "host_module.h"
#include "fake_runtime.h"
#include "host_libraries.h"
#include "kernels.h"

namespace ibhost {
namespace {

Napi::Value SetCapacity(const Napi::CallbackInfo &info) {
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0)) throw Napi::Error::New(info.Env(), "hostEmulationSetCapacity: a byte count >= 0 expected");
  return Napi::Number::New(info.Env(), static_cast<double>(setCapacity(static_cast<size_t>(bytes))));
}

template <typename Map>
Napi::Value objectOf(Napi::Env env, const Map &counts) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto &[name, count] : counts) out.Set(name, static_cast<double>(count));
  return out;
}

Napi::Value SetDeferred(const Napi::CallbackInfo &info) {
  double items = info[0].As<Napi::Number>().DoubleValue();
  if (!(items >= 0)) throw Napi::Error::New(info.Env(), "hostEmulationSetDeferred: a queue depth >= 0 expected");
  return Napi::Number::New(info.Env(), static_cast<double>(setDeferredDepth(static_cast<size_t>(items))));
}

std::string stringArgument(const Napi::CallbackInfo &info, size_t i) { return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : ""; }

Napi::Value SetSchedule(const Napi::CallbackInfo &info) {
  const Named<Schedule> *schedule = byName(kSchedules, stringArgument(info, 0));
  double seed = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!schedule || !(seed >= 0)) throw Napi::Error::New(info.Env(), "hostEmulationSetSchedule: \"in-order\", \"reversed\" or \"shuffled\" and a seed >= 0 expected");
  return Napi::String::New(info.Env(), nameOf(kSchedules, setSchedule(schedule->mode, static_cast<uint64_t>(seed))));
}

Napi::Value SetMemoryPools(const Napi::CallbackInfo &info) {
  const Named<MemoryPools> *pools = byName(kMemoryPools, stringArgument(info, 0));
  if (!pools) throw Napi::Error::New(info.Env(), "hostEmulationSetMemoryPools: \"working\", \"absent\" or \"refusing\" expected");
  return Napi::String::New(info.Env(), nameOf(kMemoryPools, setMemoryPools(pools->mode)));
}

Napi::Value SetGridCaps(const Napi::CallbackInfo &info) {
  double x = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  double yz = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  const ib::GridCaps real;  // the caps can only be lowered
  if (!(x >= 1 && x <= real.x && yz >= 1 && yz <= real.yz)) {
    throw Napi::Error::New(info.Env(), "hostEmulationSetGridCaps: x in [1, " + std::to_string(real.x) + "] and yz in [1, " + std::to_string(real.yz) + "] expected");
  }
  Napi::Array previous = Napi::Array::New(info.Env(), 2);
  previous.Set(0u, static_cast<double>(ib::gridCaps.x));
  previous.Set(1u, static_cast<double>(ib::gridCaps.yz));
  ib::gridCaps = ib::GridCaps{static_cast<long long>(x), static_cast<long long>(yz)};
  return previous;
}

Napi::Value Launches(const Napi::CallbackInfo &info) { return objectOf(info.Env(), kernelLaunches()); }
Napi::Value LibraryObjects(const Napi::CallbackInfo &info) { return objectOf(info.Env(), libraryObjects()); }
Napi::Value LibraryCalls(const Napi::CallbackInfo &info) { return objectOf(info.Env(), libraryCalls()); }

}  // namespace

Napi::Object addHostEmulationExports(Napi::Env env, Napi::Object exports) {
  exports.Set("hostEmulation", Napi::String::New(env, "native/cuda/src on a fake CUDA runtime on the CPU with stand-ins for cuDNN and cuBLAS (no GPU)"));
  exports.Set("hostEmulationSetCapacity", Napi::Function::New(env, SetCapacity));
  exports.Set("hostEmulationSetDeferred", Napi::Function::New(env, SetDeferred));
  exports.Set("hostEmulationSetSchedule", Napi::Function::New(env, SetSchedule));
  exports.Set("hostEmulationSetGridCaps", Napi::Function::New(env, SetGridCaps));
  exports.Set("hostEmulationSetMemoryPools", Napi::Function::New(env, SetMemoryPools));
  exports.Set("hostEmulationLaunches", Napi::Function::New(env, Launches));
  exports.Set("hostEmulationLibraryObjects", Napi::Function::New(env, LibraryObjects));
  exports.Set("hostEmulationLibraryCalls", Napi::Function::New(env, LibraryCalls));
  return exports;
}

}  // namespace ibhost
