// Compiling a user's regular expression from config: RE2, which matches in time linear in the
// text, so that no pattern can backtrack forever on a hostile prompt or answer.
#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>

#include "config/yaml_map.hpp"

namespace switchyard {

// The compiled `pattern`, at most 8 MiB of automaton; fails (ConfigFailure) naming `path`.
inline std::unique_ptr<RE2> compile_pattern(const std::string& pattern, const std::string& path) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(8 << 20);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) fail(path, "not a valid RE2 pattern: " + re->error());
  return re;
}

}  // namespace switchyard
