#include "dataset/outcomes.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

namespace switchyard {

int OutcomeFile::model_index(std::string_view model) const {
  auto it = std::find(models.begin(), models.end(), model);
  return it == models.end() ? -1 : static_cast<int>(it - models.begin());
}

namespace {

bool wanted(std::string_view split, std::string_view splits) {
  if (splits.empty()) return true;
  while (!splits.empty()) {
    auto comma = splits.find(',');
    if (splits.substr(0, comma) == split) return true;
    if (comma == std::string_view::npos) break;
    splits.remove_prefix(comma + 1);
  }
  return false;
}

// Deeper than any chat message; bounded because copying and writing out a DOM recurse once a
// level (the messages are kept as text), so a line of a million brackets would end the process.
constexpr int kMaxDepth = 64;

// One line into `file`; an error message (without the location) when it is malformed.
std::string read_line(const std::string& line, std::string_view splits, OutcomeFile& file) {
  using nlohmann::json;
  json j;
  bool too_deep = false;
  // Values below the limit are dropped as they are read, so a deep line is never built.
  const auto bounded = [&](int depth, json::parse_event_t event, json&) {
    const bool opens = event == json::parse_event_t::object_start ||
                       event == json::parse_event_t::array_start;
    too_deep = too_deep || (opens && depth >= kMaxDepth);  // depth: the levels already open
    return !too_deep;
  };
  try {
    j = json::parse(line, bounded);
  } catch (const json::exception& e) {  // a syntax error, or a number out of range
    return std::string("unreadable JSON: ") + e.what();
  }
  if (too_deep) return "nested more than " + std::to_string(kMaxDepth) + " levels deep";
  if (!j.is_object()) return "not a JSON object";
  auto string_member = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  OutcomeRecord r;
  r.split = string_member("split");
  if (!wanted(r.split, splits)) return {};
  r.id = string_member("id");
  auto msgs = j.find("messages");
  if (msgs == j.end() || !msgs->is_array() || msgs->empty() || !msgs->back().is_object())
    return "messages must be a non-empty list of messages";
  auto content = msgs->back().find("content");
  if (content == msgs->back().end() || !content->is_string())
    return "the last message's content must be a string";
  r.prompt = content->get<std::string>();
  r.messages = msgs->dump();
  auto outs = j.find("outcomes");
  if (outs == j.end() || !outs->is_object()) return "outcomes must be an object";
  for (auto it = outs->begin(); it != outs->end(); ++it) {
    const auto& o = it.value();
    auto q = o.is_object() ? o.find("quality") : o.end();
    if (q == o.end() || !q->is_number() || !(q->get<double>() >= 0 && q->get<double>() <= 1))
      return "outcomes." + it.key() + ".quality must be a number in [0, 1]";
    auto cost = o.find("cost_usd");
    auto tokens = o.find("output_tokens");
    auto response = o.find("response");
    Outcome oc;
    oc.quality = q->get<double>();
    // Absent or null: not recorded, 0. Anything else must be a number at least 0.
    const auto number = [&](auto member, double& out) {
      if (member == o.end() || member->is_null()) return true;
      if (!member->is_number()) return false;
      out = member->template get<double>();
      return std::isfinite(out) && out >= 0;
    };
    double tokens_read = 0;
    if (!number(cost, oc.cost_usd))
      return "outcomes." + it.key() + ".cost_usd must be a number at least 0";
    if (!number(tokens, tokens_read))
      return "outcomes." + it.key() + ".output_tokens must be a number at least 0";
    oc.output_tokens =
        static_cast<std::uint32_t>(std::min(std::round(tokens_read), double{kMaxOutputTokens}));
    if (response != o.end() && response->is_string()) oc.response = response->get<std::string>();
    int m = file.model_index(it.key());
    if (m < 0) {
      m = static_cast<int>(file.models.size());
      file.models.push_back(it.key());
    }
    if (r.outcomes.size() <= static_cast<std::size_t>(m)) r.outcomes.resize(m + 1);
    r.outcomes[m] = std::move(oc);
  }
  file.records.push_back(std::move(r));
  return {};
}

}  // namespace

Result<OutcomeFile> load_outcomes(const std::string& path, std::string_view splits) {
  std::ifstream in(path);
  if (!in) return make_error(Reason::internal, path + ": cannot open file");
  OutcomeFile file;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (auto why = read_line(line, splits, file); !why.empty())
      return make_error(Reason::internal,
                        path + ":" + std::to_string(line_no) + ": " + std::move(why));
  }
  if (file.records.empty()) {
    std::string message = path + ": no prompts";
    if (!splits.empty()) message += " in split \"" + std::string(splits) + "\"";
    return make_error(Reason::internal, std::move(message));
  }
  // Every record has a slot for every model.
  for (auto& r : file.records) r.outcomes.resize(file.models.size());
  return file;
}

}  // namespace switchyard
