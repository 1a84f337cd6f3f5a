#include "config/yaml_map.hpp"

#include <cstdlib>

namespace switchyard {

std::string expand_env(const std::string& in, const std::string& path) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    auto end = in.find('}', i);
    if (end == std::string::npos) fail(path, "unterminated ${ in \"" + in + "\"");
    std::string ref = in.substr(i + 2, end - i - 2);
    std::string def;
    bool has_def = false;
    if (auto d = ref.find(":-"); d != std::string::npos) {
      def = ref.substr(d + 2);
      ref.resize(d);
      has_def = true;
    }
    const char* v = std::getenv(ref.c_str());
    if (v && *v)
      out += v;
    else if (has_def)
      out += def;
    else
      fail(path, "environment variable " + ref + " is not set");
    i = end + 1;
  }
  return out;
}

bool read_guarded(std::string& error, const std::function<void()>& body) {
  try {
    body();
    return true;
  } catch (const ConfigFailure& e) {
    error = e.what();
  } catch (const YAML::Exception& e) {
    error = "(yaml) line " + std::to_string(e.mark.line + 1) + ", column " +
            std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  return false;
}

}  // namespace switchyard
