// HOST EMULATION ONLY: the test controls of the fake runtime, exported by the host build's addon only.
#include "host_module.h"
#include "fake_runtime.h"

namespace ibhost {
namespace {

Napi::Value SetCapacity(const Napi::CallbackInfo &info) {
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0)) throw Napi::Error::New(info.Env(), "hostEmulationSetCapacity: a byte count >= 0 expected");
  return Napi::Number::New(info.Env(), static_cast<double>(setCapacity(static_cast<size_t>(bytes))));
}

Napi::Value Launches(const Napi::CallbackInfo &info) {
  Napi::Object out = Napi::Object::New(info.Env());
  for (const auto &[name, count] : kernelLaunches()) out.Set(name, static_cast<double>(count));
  return out;
}

}  // namespace

Napi::Object addHostEmulationExports(Napi::Env env, Napi::Object exports) {
  exports.Set("hostEmulation", Napi::String::New(env, "native/cuda/src on a fake CUDA runtime on the CPU (no GPU, no cuDNN, no cuBLAS)"));
  exports.Set("hostEmulationSetCapacity", Napi::Function::New(env, SetCapacity));
  exports.Set("hostEmulationLaunches", Napi::Function::New(env, Launches));
  return exports;
}

}  // namespace ibhost
