// HOST EMULATION ONLY: the test controls of the fake runtime, exported by the host build's addon only.
#include "host_module.h"
#include "fake_runtime.h"
#include "host_libraries.h"

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

Napi::Value Launches(const Napi::CallbackInfo &info) { return objectOf(info.Env(), kernelLaunches()); }
Napi::Value LibraryObjects(const Napi::CallbackInfo &info) { return objectOf(info.Env(), libraryObjects()); }
Napi::Value LibraryCalls(const Napi::CallbackInfo &info) { return objectOf(info.Env(), libraryCalls()); }

}  // namespace

Napi::Object addHostEmulationExports(Napi::Env env, Napi::Object exports) {
  exports.Set("hostEmulation", Napi::String::New(env, "native/cuda/src on a fake CUDA runtime on the CPU with stand-ins for cuDNN and cuBLAS (no GPU)"));
  exports.Set("hostEmulationSetCapacity", Napi::Function::New(env, SetCapacity));
  exports.Set("hostEmulationSetDeferred", Napi::Function::New(env, SetDeferred));
  exports.Set("hostEmulationLaunches", Napi::Function::New(env, Launches));
  exports.Set("hostEmulationLibraryObjects", Napi::Function::New(env, LibraryObjects));
  exports.Set("hostEmulationLibraryCalls", Napi::Function::New(env, LibraryCalls));
  return exports;
}

}  // namespace ibhost
