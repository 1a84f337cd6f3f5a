#include "router/gates/similar.hpp"

#include "api/request.hpp"
#include "config/yaml_map.hpp"
#include "router/call.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>

namespace switchyard {

struct Similar::Cache {
  ~Cache() { delete vectors.load(std::memory_order_acquire); }
  // The references' question vectors, then their answer vectors; null until the first call.
  std::atomic<const std::vector<std::vector<float>>*> vectors{nullptr};
};

namespace {

using nlohmann::json;

constexpr std::size_t kMaxEmbedded = 32 * 1024;  // bytes of the prompt and answer embedded

// The embeddings of an OpenAI embeddings answer, by index; empty unless there are `count`
// float vectors of one length.
std::vector<std::vector<float>> embeddings(std::string_view body, std::size_t count) {
  std::vector<std::vector<float>> out;
  if (!is_bounded_json(body, 8)) return out;
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() ||
      j["data"].size() != count)
    return out;
  out.resize(count);
  for (const auto& d : j["data"]) {
    const json* index = d.is_object() && d.contains("index") ? &d["index"] : nullptr;
    if (!index || !index->is_number_unsigned() || index->get<std::size_t>() >= count ||
        !d.contains("embedding") || !d["embedding"].is_array())
      return {};
    auto& v = out[index->get<std::size_t>()];
    v.reserve(d["embedding"].size());
    for (const auto& x : d["embedding"]) {
      // Beyond a float's range the conversion is undefined: such a vector is not an embedding.
      if (!x.is_number() || !(std::fabs(x.get<double>()) <= std::numeric_limits<float>::max()))
        return {};
      v.push_back(static_cast<float>(x.get<double>()));
    }
  }
  for (const auto& v : out)
    if (v.empty() || v.size() != out.front().size()) return {};
  return out;
}

}  // namespace

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

Similar read_similar(const YAML::Node& node, const std::string& path, BuildContext& ctx) {
  Similar s;
  Map m(node, path);
  std::string model;
  m.req("model", model);
  m.opt("min_question", s.min_question);
  m.opt("min_answer", s.min_answer);
  const auto refs = m.get("references");
  if (!refs || !refs.IsSequence() || refs.size() == 0)
    fail(m.at("references"), "expected a list of {question, answer}");
  for (std::size_t i = 0; i < refs.size(); ++i) {
    Map r(refs[i], m.at("references") + "[" + std::to_string(i) + "]");
    std::string q, a;
    r.req("question", q);
    r.req("answer", a);
    r.finish();
    if (q.empty() || a.empty()) fail(r.at(q.empty() ? "question" : "answer"), "must not be empty");
    s.questions.push_back(std::move(q));
    s.answers.push_back(std::move(a));
  }
  m.finish();
  if (s.questions.size() > 256) fail(m.at("references"), "at most 256 references");
  if (!(s.min_question >= -1 && s.min_question <= 1))
    fail(m.at("min_question"), "must be a cosine similarity, -1 to 1");
  if (!(s.min_answer >= -1 && s.min_answer <= 1))
    fail(m.at("min_answer"), "must be a cosine similarity, -1 to 1");
  s.targets = ctx.targets_for(model);
  if (s.targets.empty())
    fail(m.at("model"),
         "unknown model \"" + model + "\" (known: " + std::string(ctx.model_list()) + ")");
  s.cache = std::make_shared<Similar::Cache>();
  return s;
}

Task<std::string> check_similar(RouteContext& ctx, const Similar& s, const Answer& answer) {
  const std::string_view prompt =
      std::string_view(ctx.request.prompt.text).substr(0, kMaxEmbedded);
  if (prompt.empty()) co_return "";  // no question in words: not one the gate knows
  const auto* refs = s.cache->vectors.load(std::memory_order_acquire);
  // The prompt, the answer if it has text (embeddings APIs refuse empty input), the references
  // the first time.
  json input = json::array({prompt});
  const bool has_text = !answer.text.empty();
  if (has_text) input.push_back(std::string_view(answer.text).substr(0, kMaxEmbedded));
  const std::size_t refs_at = input.size();
  if (!refs) {
    for (const auto& q : s.questions) input.push_back(q);
    for (const auto& a : s.answers) input.push_back(a);
  }
  const std::size_t count = input.size();
  const json body = {{"model", "embeddings"}, {"input", std::move(input)}};
  // Cut text may end inside a UTF-8 sequence: replaced, never thrown over.
  auto request = parse_api_request(Endpoint::embeddings,
                                   body.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!request) co_return "embeddings failed: " + request.error().message;
  request->request_id = ctx.request.request_id;
  auto reply = co_await ask_in_order(ctx, s.targets, *request);
  if (!reply) co_return "embeddings failed: " + reply.error().message;
  auto vectors = embeddings(reply->reply.body, count);
  if (vectors.empty()) co_return "embeddings failed: the answer holds no embeddings";
  if (!refs) {
    auto mine = std::make_unique<const std::vector<std::vector<float>>>(
        vectors.begin() + static_cast<std::ptrdiff_t>(refs_at), vectors.end());
    const std::vector<std::vector<float>>* expected = nullptr;
    // The first to finish publishes (the cache owns it from then on); a request that lost the
    // race uses the winner's.
    if (s.cache->vectors.compare_exchange_strong(expected, mine.get(),
                                                 std::memory_order_acq_rel)) {
      refs = mine.release();
    } else {
      refs = expected;
    }
  }
  if (refs->size() != 2 * s.questions.size() || refs->front().size() != vectors[0].size())
    co_return "embeddings failed: the model's vectors changed length";
  std::size_t best = 0;
  double closest = -2;
  for (std::size_t i = 0; i < s.questions.size(); ++i)
    if (double c = cosine(vectors[0], (*refs)[i]); c > closest) closest = c, best = i;
  if (closest < s.min_question) co_return "";  // not a question the gate knows
  if (!has_text) co_return "the answer has no text to compare with the reference";
  const double similarity = cosine(vectors[1], (*refs)[s.questions.size() + best]);
  if (similarity >= s.min_answer) co_return "";
  co_return fmt::format("similarity {:.2f} to the reference answer, below {:g}", similarity,
                        s.min_answer);
}

}  // namespace switchyard
