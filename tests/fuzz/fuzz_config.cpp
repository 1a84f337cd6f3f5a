// The config path a reload takes on an operator's file: parse_config (YAML → validated Config),
// then, if that succeeds, build_snapshot (URLs, TLS contexts, stage and dispatcher factories,
// metric handles). Either may refuse the input; neither may crash, leak or hang.
#include "fuzz.hpp"
#include "metrics/metrics.hpp"
#include "router/snapshot.hpp"
#include "switchyard/config.hpp"

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace {

using fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // build_snapshot warns about insecure_skip_verify; one line per input would drown the output.
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto load = switchyard::parse_config(text, "fuzz.yaml");
  if (!load.config) {
    check(!load.error.empty());  // a refusal always says why
    return 0;
  }
  // A fresh registry per input: series for fuzzer-made route and model names must not pile up.
  switchyard::Metrics metrics;
  auto build = switchyard::build_snapshot(std::move(*load.config), metrics);
  check(build.snapshot != nullptr || !build.error.empty());
  if (build.snapshot) {
    check(build.error.empty());
    (void)metrics.serialize();  // the handles the snapshot resolved must render
  }
  return 0;
}
