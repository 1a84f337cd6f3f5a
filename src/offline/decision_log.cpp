#include "offline/decision_log.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>

namespace switchyard::offline {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The number at `key` if it is one from 0 to `most`, else `otherwise`: a line edited by hand
// must not make a status negative or a count wrap.
double num(const json& j, const char* key, double most = std::numeric_limits<double>::max(),
           double otherwise = 0) {
  auto it = j.find(key);
  const double v = it != j.end() && it->is_number() ? it->get<double>() : -1;
  return v >= 0 && v <= most ? v : otherwise;
}

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

LoggedRequest from_decision(const json& j) {
  LoggedRequest r;
  r.request_id = str(j, "request_id");
  r.client = str(j, "client");
  r.route = str(j, "route");
  r.experiment = str(j, "experiment");
  r.model = str(j, "model");
  r.prompt = str(j, "prompt");
  r.system = str(j, "system");
  r.status = static_cast<int>(num(j, "status", 999));
  r.cost_usd = num(j, "cost_usd");
  r.latency_ms = num(j, "latency_ms");
  // As the outcomes loader bounds a recorded count; the outcome keeps 32 bits of it.
  r.output_tokens = static_cast<std::uint64_t>(num(j, "output_tokens", kMaxOutputTokens));
  if (auto d = j.find("decision"); d != j.end() && d->is_object()) {
    if (auto l = d->find("labels"); l != d->end() && l->is_array() && !l->empty() &&
                                    l->front().is_object())
      r.label = str(l->front(), "label");
    if (auto b = d->find("bandit"); b != d->end() && b->is_object()) {
      r.bandit_model = str(*b, "model");
      r.bandit_shadow = flag(*b, "shadow");
    }
  }
  return r;
}

// The mean of `x` weighted by a bootstrap resample's counts.
double resampled_mean(const std::vector<double>& x, const std::vector<std::uint32_t>& counts) {
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += counts[i] * x[i];
  return x.empty() ? std::nan("") : s / static_cast<double>(x.size());
}

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? std::nan("") : s / static_cast<double>(x.size());
}

double quantile(std::vector<double> x, double q) {
  if (x.empty()) return std::nan("");
  std::sort(x.begin(), x.end());
  const double at = q * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (at - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

struct ArmData {
  ArmReport report;
  std::vector<double> scores, costs, latencies;
};

}  // namespace

Result<std::vector<LoggedRequest>> load_decision_log(const std::vector<std::string>& paths) {
  std::vector<LoggedRequest> out;
  std::unordered_map<std::string, std::size_t> by_id;
  std::vector<std::pair<std::string, double>> feedback;  // request id, score
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) return make_error(Reason::bad_request, path + ": cannot open");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      if (line.empty()) continue;
      const auto j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
        return make_error(Reason::bad_request, path + ":" + std::to_string(n) +
                                                   ": not a decision log line (a JSON object "
                                                   "with a type)");
      if (j["type"] == "decision") {
        by_id[str(j, "request_id")] = out.size();
        out.push_back(from_decision(j));
      } else if (j["type"] == "feedback") {
        // A score the gateway never writes (not a number from 0 to 1) is no feedback.
        if (const double score = num(j, "score", 1, -1); score >= 0)
          feedback.emplace_back(str(j, "request_id"), score);
      }
    }
  }
  // Joined at the end: a feedback line may come before its decision line.
  for (const auto& [id, score] : feedback)
    if (auto it = by_id.find(id); it != by_id.end()) out[it->second].score = score;
  return out;
}

Result<OutcomeFile> log_outcomes(const std::vector<LoggedRequest>& requests) {
  OutcomeFile file;
  std::map<std::string, std::size_t> index;
  bool prompts = false;
  std::vector<std::pair<const LoggedRequest*, std::size_t>> kept;
  for (const auto& r : requests) {
    prompts |= !r.prompt.empty();
    if (r.prompt.empty() || !r.score || r.model.empty() || r.status >= 400) continue;
    auto [it, added] = index.emplace(r.model, file.models.size());
    if (added) file.models.push_back(r.model);
    kept.emplace_back(&r, it->second);
  }
  if (!prompts)
    return make_error(Reason::bad_request,
                      "the log has no prompts: write it with decision_log.prompts: true");
  for (const auto& [r, m] : kept) {
    OutcomeRecord rec;
    rec.id = r->request_id;
    rec.split = "log";
    json messages = json::array();
    if (!r->system.empty()) messages.push_back({{"role", "system"}, {"content", r->system}});
    messages.push_back({{"role", "user"}, {"content", r->prompt}});
    rec.messages = messages.dump(-1, ' ', false, json::error_handler_t::replace);
    rec.prompt = r->prompt;
    rec.outcomes.resize(file.models.size());
    rec.outcomes[m] = Outcome{*r->score, r->cost_usd, static_cast<std::uint32_t>(r->output_tokens), ""};
    file.records.push_back(std::move(rec));
  }
  return file;
}

LogReport report_log(const std::vector<LoggedRequest>& requests, std::uint32_t resamples,
                     std::uint64_t seed) {
  LogReport out;
  // Arms: the requests of experiments, by arm; with no experiment in the log, every route.
  const bool experiments = std::any_of(requests.begin(), requests.end(),
                                       [](const auto& r) { return !r.experiment.empty(); });
  std::map<std::pair<std::string, std::string>, ArmData> arms;
  for (const auto& r : requests) {
    if (experiments && r.experiment.empty()) continue;
    ArmData& a = arms[{r.experiment, r.route}];
    a.report.experiment = r.experiment;
    a.report.route = r.route;
    ++a.report.requests;
    if (r.status >= 400) ++a.report.failed;
    a.costs.push_back(r.cost_usd);
    a.latencies.push_back(r.latency_ms);
    if (r.score) a.scores.push_back(*r.score);
  }
  std::mt19937_64 rng(seed);
  // Per arm, the bootstrap means; then each arm against its experiment's control (the arm named
  // like the experiment), resample by resample.
  std::map<std::pair<std::string, std::string>, std::pair<std::vector<double>, std::vector<double>>>
      boot;
  for (auto& [key, a] : arms) {
    auto& [s, c] = boot[key];
    for (std::uint32_t b = 0; b < resamples; ++b) {
      s.push_back(resampled_mean(a.scores, bootstrap_counts(a.scores.size(), rng)));
      c.push_back(resampled_mean(a.costs, bootstrap_counts(a.costs.size(), rng)));
    }
    a.report.rated = a.scores.size();
    a.report.score = percentile_interval(mean(a.scores), s);
    a.report.cost_usd = percentile_interval(mean(a.costs), c);
    a.report.latency_p50_ms = quantile(a.latencies, 0.5);
    a.report.latency_p95_ms = quantile(a.latencies, 0.95);
  }
  for (auto& [key, a] : arms) {
    auto control = boot.find({key.first, key.first});
    if (key.first.empty() || control == boot.end()) {
      a.report.score_vs_control = a.report.cost_vs_control = {std::nan(""), std::nan(""), std::nan("")};
    } else {
      const auto& ctl = arms.at({key.first, key.first});
      std::vector<double> ds, dc;
      for (std::uint32_t b = 0; b < resamples; ++b) {
        ds.push_back(boot[key].first[b] - control->second.first[b]);
        dc.push_back(boot[key].second[b] - control->second.second[b]);
      }
      a.report.score_vs_control =
          percentile_interval(a.report.score.value - ctl.report.score.value, std::move(ds));
      a.report.cost_vs_control =
          percentile_interval(a.report.cost_usd.value - ctl.report.cost_usd.value, std::move(dc));
    }
    out.arms.push_back(a.report);
  }

  // The bandit: each model's mean score under each label, then each choice's shortfall from the
  // best model under its label.
  std::map<std::pair<std::string, std::string>, std::pair<double, double>> sums;  // sum, count
  for (const auto& r : requests)
    if (r.score && !r.model.empty()) {
      auto& [s, n] = sums[{r.label, r.model}];
      s += *r.score;
      n += 1;
    }
  auto model_mean = [&](const std::string& label, const std::string& model) {
    auto it = sums.find({label, model});
    return it == sums.end() ? std::nan("") : it->second.first / it->second.second;
  };
  BanditReport& b = out.bandit;
  for (const auto& r : requests) {
    if (r.bandit_model.empty()) continue;
    ++b.decisions;
    b.shadow += r.bandit_shadow;
    b.agreed += r.bandit_model == r.model;
    double best = std::nan("");
    for (const auto& [key, sn] : sums)
      if (key.first == r.label) best = std::isnan(best) ? sn.first / sn.second
                                                        : std::max(best, sn.first / sn.second);
    const double served = model_mean(r.label, r.model), chosen = model_mean(r.label, r.bandit_model);
    if (std::isnan(best) || std::isnan(served) || std::isnan(chosen)) continue;
    ++b.valued;
    b.served_regret += best - served;
    b.bandit_regret += best - chosen;
  }
  if (b.valued > 0) {
    b.served_regret /= static_cast<double>(b.valued);
    b.bandit_regret /= static_cast<double>(b.valued);
  }
  return out;
}

namespace {

constexpr const char* kLogUsage = R"(usage: switchyard eval --log FILE [--log FILE ...] [--json] [--bootstrap N]

Reads a decision log (config decision_log; list rotated files oldest first) and compares the
arms of each A/B experiment in it (every route, when it has none): requests, failures, the mean
feedback score and cost with 95% bootstrap intervals, latency p50/p95, and each arm's difference
from its control. With bandit decisions, how much worse than the best model per label (by the
log's mean feedback) the served answers and the bandit's choices were.
)";

json interval_json(const Interval& i) {
  auto v = [](double x) { return std::isnan(x) ? json(nullptr) : json(x); };
  return {{"value", v(i.value)}, {"lo", v(i.lo)}, {"hi", v(i.hi)}};
}

std::string fmt_interval(const Interval& i, int digits) {
  if (std::isnan(i.value)) return "-";
  char buf[96];
  if (std::isnan(i.lo))
    std::snprintf(buf, sizeof buf, "%.*f", digits, i.value);
  else
    std::snprintf(buf, sizeof buf, "%.*f [%.*f, %.*f]", digits, i.value, digits, i.lo, digits,
                  i.hi);
  return buf;
}

}  // namespace

int eval_log_main(int argc, char** argv) {
  std::vector<std::string> paths;
  bool as_json = false;
  std::uint32_t resamples = 1000;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--log" || a == "--bootstrap") && i + 1 >= argc) {
      std::fprintf(stderr, "switchyard eval: %s needs a value\n%s", a.c_str(), kLogUsage);
      return 2;
    }
    if (a == "--log") {
      paths.emplace_back(argv[++i]);
    } else if (a == "--bootstrap") {
      const std::string v = argv[++i];
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), resamples);
      if (ec != std::errc() || end != v.data() + v.size() || resamples == 0) {
        std::fprintf(stderr, "switchyard eval: --bootstrap: expected a number above 0\n");
        return 2;
      }
    } else if (a == "--json") {
      as_json = true;
    } else if (a == "--help" || a == "-h") {
      std::printf("%s", kLogUsage);
      return 0;
    } else {
      std::fprintf(stderr, "switchyard eval: %s does not go with --log\n%s", a.c_str(), kLogUsage);
      return 2;
    }
  }
  auto requests = load_decision_log(paths);
  if (!requests) {
    std::fprintf(stderr, "switchyard eval: %s\n", requests.error().message.c_str());
    return 1;
  }
  const LogReport report = report_log(*requests, resamples, 1);
  const BanditReport& b = report.bandit;
  if (as_json) {
    json arms = json::array();
    for (const auto& a : report.arms)
      arms.push_back({{"experiment", a.experiment},
                      {"route", a.route},
                      {"requests", a.requests},
                      {"failed", a.failed},
                      {"rated", a.rated},
                      {"score", interval_json(a.score)},
                      {"cost_usd", interval_json(a.cost_usd)},
                      {"latency_p50_ms", a.latency_p50_ms},
                      {"latency_p95_ms", a.latency_p95_ms},
                      {"score_vs_control", interval_json(a.score_vs_control)},
                      {"cost_vs_control", interval_json(a.cost_vs_control)}});
    json out = {{"requests", requests->size()}, {"arms", std::move(arms)}};
    if (b.decisions > 0)
      out["bandit"] = {{"decisions", b.decisions}, {"shadow", b.shadow},
                       {"agreed", b.agreed},       {"valued", b.valued},
                       {"served_regret", b.served_regret}, {"bandit_regret", b.bandit_regret}};
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("%zu requests in %zu file(s); 95%% bootstrap intervals over %u resamples\n\n",
              requests->size(), paths.size(), resamples);
  std::printf("%-16s %-16s %8s %7s %7s  %-24s %-30s %9s %9s  %-26s %s\n", "experiment", "route",
              "requests", "failed", "rated", "mean score", "mean cost USD", "p50 ms", "p95 ms",
              "score vs control", "cost vs control");
  for (const auto& a : report.arms)
    std::printf("%-16s %-16s %8zu %7zu %7zu  %-24s %-30s %9.1f %9.1f  %-26s %s\n",
                a.experiment.empty() ? "-" : a.experiment.c_str(), a.route.c_str(), a.requests,
                a.failed, a.rated, fmt_interval(a.score, 3).c_str(),
                fmt_interval(a.cost_usd, 6).c_str(), a.latency_p50_ms, a.latency_p95_ms,
                fmt_interval(a.score_vs_control, 3).c_str(),
                fmt_interval(a.cost_vs_control, 6).c_str());
  if (b.decisions > 0)
    std::printf(
        "\nbandit: %zu decisions (%zu in shadow mode), %zu agreed with the served model; over "
        "the %zu with feedback on every model involved, mean regret against the best model per "
        "label: served %.4f, bandit %.4f\n",
        b.decisions, b.shadow, b.agreed, b.valued, b.served_regret, b.bandit_regret);
  return 0;
}

}  // namespace switchyard::offline
