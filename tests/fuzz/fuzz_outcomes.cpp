// An outcomes file as `switchyard train`, `switchyard eval` and the sim's --dataset read it
// (load_outcomes): JSON lines from wherever a user got them. A malformed line is refused with
// "path:line: why"; a file that loads has a slot for every model in every record, and no
// quality outside [0, 1]. Nothing may crash, hang or recurse without bound.
//
// The input is the file's bytes; each is written to one temporary file, as load reads a path.
// Each input is read twice: every line, then the "train" split only.
#include "fuzz.hpp"
#include "dataset/outcomes.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using fuzz::check;

void loads(const std::string& path, std::string_view splits) {
  using namespace switchyard;
  auto file = load_outcomes(path, splits);
  if (!file) {
    check(file.error().message.starts_with(path + ":"));  // a refusal names the file
    return;
  }
  check(!file->records.empty());
  for (const auto& r : file->records) {
    check(r.outcomes.size() == file->models.size());
    for (const auto& o : r.outcomes)
      if (o) check(o->quality >= 0 && o->quality <= 1 && o->cost_usd >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = fuzz::write_input(".jsonl", data, size);
  loads(path, {});
  loads(path, "train");
  return 0;
}
