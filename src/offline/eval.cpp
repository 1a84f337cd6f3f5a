#include "offline/eval.hpp"

#include "config/yaml_map.hpp"
#include "metrics/metrics.hpp"
#include "offline/decision_log.hpp"
#include "offline/plot.hpp"
#include "offline/replay.hpp"
#include "offline/train.hpp"
#include "router/learned/model.hpp"
#include "router/snapshot.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

namespace switchyard::offline {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kKnob = "cost_weight";

// The route's chain: its stages, then its dispatcher.
std::vector<StageConfig*> chain(Config& config, const std::string& route) {
  std::vector<StageConfig*> out;
  for (auto& r : config.routes)
    if (r.name == route) {
      for (auto& s : r.stages) out.push_back(&s);
      out.push_back(&r.dispatcher);
    }
  return out;
}

// The mappings of a stage or dispatcher that hold its cost knob: its own, and each learned or
// predicted gate of a cascade's tiers (their gates, gates_by_caller and under_load gates).
// Nowhere else: a scorer's per-tier cost weights are not the route's knob.
std::vector<YAML::Node> knob_holders(const YAML::Node& node) {
  // A missing key gives an invalid node, whose type cannot be asked.
  const auto map = [](const YAML::Node& n) { return n && n.IsMap(); };
  std::vector<YAML::Node> out;
  if (!map(node)) return out;
  out.push_back(node);
  auto knobbed_gates = [&](const YAML::Node& gates) {
    if (!map(gates)) return;
    for (const char* gate : {"learned", "predicted"})
      if (map(gates[gate])) out.push_back(gates[gate]);
  };
  if (const YAML::Node tiers = node["tiers"]; tiers && tiers.IsSequence())
    for (const YAML::Node& tier : tiers) {
      if (!map(tier)) continue;
      knobbed_gates(tier["gates"]);
      if (map(tier["under_load"])) knobbed_gates(tier["under_load"]["gates"]);
      if (map(tier["gates_by_caller"]))
        for (const auto& kv : tier["gates_by_caller"]) knobbed_gates(kv.second);
    }
  return out;
}

bool holds_knob(const YAML::Node& node) { return node[kKnob] || node["target"]; }

bool has_knob(const StageConfig& s) {
  if (!s.node) return false;
  const auto holders = knob_holders(*s.node);
  return std::any_of(holders.begin(), holders.end(), holds_knob);
}

// The configuration with every cost knob of the route set to `value`.
Config with_knob(Config config, const std::string& route, double value) {
  for (auto* s : chain(config, route))
    if (has_knob(*s)) {
      auto node = YAML::Clone(*s->node);
      for (YAML::Node holder : knob_holders(node))
        if (holds_knob(holder)) {
          holder[kKnob] = value;
          holder.remove("target");
        }
      s->node = std::make_shared<const YAML::Node>(std::move(node));
    }
  return config;
}

// Per-prompt cost and quality of one policy, and whether (1) or not (0) the strong model answered.
struct Column {
  std::vector<double> cost, quality, strong;
};

double weighted_mean(const std::vector<double>& x, const std::vector<std::uint32_t>* w) {
  double sum = 0, n = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double wi = w ? (*w)[i] : 1.0;
    sum += wi * x[i];
    n += wi;
  }
  return n > 0 ? sum / n : kNaN;
}

Point point(const Column& c, const std::vector<std::uint32_t>* w) {
  return {weighted_mean(c.cost, w), weighted_mean(c.quality, w)};
}

// Everything the figures are computed from, per prompt.
struct Data {
  std::vector<std::string> models;  // considered, file names
  std::vector<Column> singles;      // one per model
  Column random, oracle, configured;
  std::vector<Column> oracle_curve, curve;
  std::size_t best = 0;             // the best single model on the whole sample
  int strong = -1, weak = -1;       // indices into models
};

// Every figure, in a fixed order, on the prompts weighted by `w` (null: each once). `names` is
// filled when given.
std::vector<double> figures(const Data& d, const std::vector<std::uint32_t>* w,
                            std::vector<std::string>* names) {
  std::vector<double> out;
  auto add = [&](std::string name, double v) {
    out.push_back(v);
    if (names) names->push_back(std::move(name));
  };
  auto opt = [](std::optional<double> v) { return v ? *v : kNaN; };
  std::vector<Point> singles;
  double max_cost = 0;
  for (std::size_t m = 0; m < d.singles.size(); ++m) {
    singles.push_back(point(d.singles[m], w));
    max_cost = std::max(max_cost, singles.back().cost);
    add("single." + d.models[m] + ".cost", singles.back().cost);
    add("single." + d.models[m] + ".quality", singles.back().quality);
  }
  const Point best = singles[d.best];
  // A curve's AIQ and the cost at which its hull reaches 95% and 99% of the best single model's
  // quality, as a share of that model's cost.
  auto curve_figures = [&](const std::string& prefix, const std::vector<Point>& pts) {
    add(prefix + ".aiq", aiq(pts, max_cost));
    add(prefix + ".cost_to_95", opt(cost_to_reach(pts, 0.95 * best.quality)) / best.cost);
    add(prefix + ".cost_to_99", opt(cost_to_reach(pts, 0.99 * best.quality)) / best.cost);
  };
  auto points = [&](const std::vector<Column>& cols) {
    std::vector<Point> pts;
    pts.reserve(cols.size());
    for (const auto& c : cols) pts.push_back(point(c, w));
    return pts;
  };

  const Point random = point(d.random, w);
  add("random.cost", random.cost);
  add("random.quality", random.quality);
  add("random.aiq", aiq(std::span(&random, 1), max_cost));
  const Point oracle = point(d.oracle, w);
  add("oracle.cost", oracle.cost);
  add("oracle.quality", oracle.quality);
  curve_figures("oracle", points(d.oracle_curve));
  curve_figures("mixtures", singles);

  const Point configured = point(d.configured, w);
  add("route.cost", configured.cost);
  add("route.quality", configured.quality);
  auto curve = d.curve.empty() ? std::vector<Point>{configured} : points(d.curve);
  curve_figures("route", curve);
  if (d.strong >= 0) {
    std::vector<SharePoint> shares;
    const auto& cols = d.curve.empty() ? std::vector<Column>{d.configured} : d.curve;
    for (std::size_t g = 0; g < cols.size(); ++g)
      shares.push_back({weighted_mean(cols[g].strong, w), curve[g].quality});
    const double s = singles[static_cast<std::size_t>(d.strong)].quality;
    const double k = singles[static_cast<std::size_t>(d.weak)].quality;
    add("route.apgr", apgr(shares, k, s));
    add("route.cpt_50", opt(cpt(shares, k, s, 0.5)));
    add("route.cpt_80", opt(cpt(shares, k, s, 0.8)));
  }
  return out;
}

// Router models trained for one evaluation, in the temporary directory; removed afterwards.
class TempModels {
 public:
  TempModels() = default;
  TempModels(const TempModels&) = delete;
  TempModels& operator=(const TempModels&) = delete;
  ~TempModels() {
    std::error_code ec;
    for (const auto& p : paths_) std::filesystem::remove(p, ec);
  }
  // A new path, for a model trained on `trained_on`.
  std::string add(const std::string& trained_on) {
    paths_.push_back((std::filesystem::temp_directory_path() /
                      ("switchyard-eval-" + std::to_string(::getpid()) + "-" +
                       std::to_string(paths_.size()) + ".swr"))
                         .string());
    labels_.push_back("(trained by eval on " + trained_on + ")");
    return paths_.back();
  }
  // `message` (a config error) with each path replaced by what its model was trained on: the
  // files are gone when the user reads it.
  std::string described(std::string message) const {
    for (std::size_t i = 0; i < paths_.size(); ++i)
      for (auto at = message.find(paths_[i]); at != std::string::npos;
           at = message.find(paths_[i], at + labels_[i].size()))
        message.replace(at, paths_[i].size(), labels_[i]);
    return message;
  }

 private:
  std::vector<std::string> paths_, labels_;
};

// The route's models trained on `records` of `file`, as --train and each fold of --cv evaluate
// it: its learned stages read a router trained there; each learned gate of its cascade reads an
// escalation model trained there for the escalation its configured model was trained for (the
// same from and to), which is why that file must exist. The router learns the `picks` models,
// under the names they give. Each model is trained once.
Result<Config> trained(Config config, const std::string& route, const OutcomeFile& file,
                       const ModelPicks& picks, std::span<const OutcomeRecord* const> records,
                       const TrainOptions& options, const std::string& trained_on,
                       TempModels& temp) {
  // A trained model's path, once saved.
  const auto saved = [&](Result<LearnedModel> model) -> Result<std::string> {
    if (!model) return model.error();
    std::string path = temp.add(trained_on);
    if (auto w = model->save(path); !w) return w.error();
    return path;
  };
  std::optional<std::string> router;  // its path, once trained
  std::unordered_map<std::string, std::string> gates;  // configured path → trained path
  for (auto* s : chain(config, route)) {
    if (!s->node) continue;
    auto node = YAML::Clone(*s->node);
    if (s->type == "learned") {
      if (!router) {
        auto path = saved(train_router(file, records, options, trained_on, picks));
        if (!path) return path.error();
        router = std::move(*path);
      }
      node["model"] = *router;
    }
    auto holders = knob_holders(node);
    for (std::size_t i = 1; i < holders.size(); ++i) {  // [0] is the stage or dispatcher itself
      YAML::Node gate = holders[i];
      if (!gate["model"] || !gate["model"].IsScalar()) continue;  // the config load says why
      const auto configured = gate["model"].as<std::string>();
      auto& path = gates[configured];
      if (path.empty()) {
        auto was = LearnedModel::load(configured);
        if (!was) return was.error();
        if (!(*was)->escalation)
          return make_error(Reason::bad_request, configured + " is not an escalation model");
        auto trained_path =
            saved(train_escalation(file, records, *(*was)->escalation, options, trained_on,
                                   picks));
        if (!trained_path) return trained_path.error();
        path = std::move(*trained_path);
      }
      gate["model"] = path;
    }
    s->node = std::make_shared<const YAML::Node>(std::move(node));
  }
  return config;
}

}  // namespace

std::vector<std::vector<std::size_t>> cv_folds(std::span<const OutcomeRecord* const> prompts,
                                               std::size_t k, std::uint64_t seed) {
  std::vector<std::size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::vector<std::size_t>> folds(k);
  std::unordered_map<std::string_view, std::size_t> group;  // messages → the order first seen
  for (const std::size_t i : order) {
    const auto at = group.try_emplace(prompts[i]->messages, group.size()).first;
    folds[at->second % k].push_back(i);
  }
  return folds;
}

Result<EvalReport> evaluate(const EvalOptions& o) {
  auto fail = [](std::string m) { return make_error(Reason::bad_request, std::move(m)); };
  auto file = load_outcomes(o.data, o.split);
  if (!file) return file.error();
  if (std::none_of(o.config.routes.begin(), o.config.routes.end(),
                   [&](const RouteConfig& r) { return r.name == o.route; }))
    return fail("no route \"" + o.route + "\" in the configuration");

  // The configured models the file has, after aliasing: configured name → file index.
  std::unordered_map<std::string, std::string> alias(o.aliases.begin(), o.aliases.end());
  for (const auto& [from, to] : o.aliases)
    if (file->model_index(from) < 0)
      return fail("--alias " + from + ": the file has no such model");
  auto configured_name = [&](const std::string& file_model) {
    auto it = alias.find(file_model);
    return it == alias.end() ? file_model : it->second;
  };
  {  // Two of the file's models under one name would be trained and replayed as different ones.
    std::unordered_set<std::string> names;
    for (const auto& m : file->models)
      if (!names.insert(configured_name(m)).second)
        return fail("--alias: two of the file's models would be called " + configured_name(m));
  }
  EvalReport report;
  report.route = o.route;
  std::unordered_map<std::string, int> model_of_name;
  std::vector<int> considered;  // file indices
  for (const auto& u : o.config.upstreams)
    for (const auto& m : u.models) {
      if (model_of_name.contains(m.name)) continue;
      int found = -1;
      for (std::size_t i = 0; i < file->models.size(); ++i)
        if (configured_name(file->models[i]) == m.name) found = static_cast<int>(i);
      if (found < 0) {
        if (std::find(report.left_out.begin(), report.left_out.end(), m.name) ==
            report.left_out.end())
          report.left_out.push_back(m.name);
        continue;
      }
      model_of_name.emplace(m.name, found);
    }
  Data d;
  considered.reserve(model_of_name.size());
  for (const auto& [name, index] : model_of_name) considered.push_back(index);
  std::unordered_set<std::string> configured;  // the configured models the file has
  for (const auto& [name, index] : model_of_name) configured.insert(name);
  if (!o.strong.empty() || !o.weak.empty()) {
    if (o.strong.empty() || o.weak.empty() || o.strong == o.weak)
      return fail("--strong and --weak name two different models");
    int s = file->model_index(o.strong), k = file->model_index(o.weak);
    if (s < 0 || !model_of_name.contains(configured_name(o.strong)))
      return fail("--strong " + o.strong + ": not a configured model the file has");
    if (k < 0 || !model_of_name.contains(configured_name(o.weak)))
      return fail("--weak " + o.weak + ": not a configured model the file has");
    considered = {k, s};
    std::erase_if(model_of_name, [&](const auto& e) { return e.second != s && e.second != k; });
  }
  if (considered.empty()) return fail("route \"" + o.route + "\" uses no model the file has");
  std::sort(considered.begin(), considered.end());
  for (int m : considered) d.models.push_back(file->models[static_cast<std::size_t>(m)]);
  for (std::size_t i = 0; i < considered.size(); ++i) {
    if (!o.strong.empty() && file->models[static_cast<std::size_t>(considered[i])] == o.strong)
      d.strong = static_cast<int>(i);
    if (!o.weak.empty() && file->models[static_cast<std::size_t>(considered[i])] == o.weak)
      d.weak = static_cast<int>(i);
  }

  // The prompts every considered model answered.
  std::vector<const OutcomeRecord*> prompts;
  for (const auto& r : file->records) {
    bool all = std::all_of(considered.begin(), considered.end(), [&](int m) {
      return r.outcomes[static_cast<std::size_t>(m)].has_value();
    });
    if (all) prompts.push_back(&r);
  }
  report.skipped = file->records.size() - prompts.size();
  report.prompts = prompts.size();
  if (prompts.empty()) return fail(o.data + ": no prompt has an answer of every model considered");

  // Baselines, straight from the file.
  const std::size_t n = prompts.size(), nm = considered.size();
  auto outcome = [&](std::size_t i, std::size_t m) -> const Outcome& {
    return *prompts[i]->outcomes[static_cast<std::size_t>(considered[m])];
  };
  d.singles.resize(nm);
  for (std::size_t m = 0; m < nm; ++m)
    for (std::size_t i = 0; i < n; ++i) {
      d.singles[m].cost.push_back(outcome(i, m).cost_usd);
      d.singles[m].quality.push_back(outcome(i, m).quality);
    }
  for (std::size_t i = 0; i < n; ++i) {
    double c = 0, q = 0;
    for (std::size_t m = 0; m < nm; ++m) c += outcome(i, m).cost_usd, q += outcome(i, m).quality;
    d.random.cost.push_back(c / static_cast<double>(nm));
    d.random.quality.push_back(q / static_cast<double>(nm));
  }
  // The oracle knows every answer: per prompt the best, and the cheapest of equals; its curve
  // gives up quality for cost at exchange rates from 0 to 10^7 quality per USD.
  auto oracle_at = [&](double rate) {
    Column c;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t pick = 0;
      for (std::size_t m = 1; m < nm; ++m) {
        const auto& a = outcome(i, m);
        const auto& b = outcome(i, pick);
        const double va = a.quality - rate * a.cost_usd, vb = b.quality - rate * b.cost_usd;
        if (va > vb || (va == vb && a.cost_usd < b.cost_usd)) pick = m;
      }
      c.cost.push_back(outcome(i, pick).cost_usd);
      c.quality.push_back(outcome(i, pick).quality);
    }
    return c;
  };
  d.oracle = oracle_at(0);
  d.oracle_curve.push_back(d.oracle);
  for (int k = 0; k <= 56; ++k) d.oracle_curve.push_back(oracle_at(std::pow(10.0, k / 8.0)));
  // The best single model, and the cheapest of equals whose cost the file records: the
  // reference of the cost shares.
  for (std::size_t m = 1; m < nm; ++m) {
    const Point a = point(d.singles[m], nullptr), b = point(d.singles[d.best], nullptr);
    if (a.quality > b.quality ||
        (a.quality == b.quality && a.cost > 0 && (a.cost < b.cost || !(b.cost > 0))))
      d.best = m;
  }

  // The route, as configured and at each knob value: over every prompt at once, or fold by
  // fold with a router trained on the other folds.
  Config base = o.config;
  auto links = chain(base, o.route);
  report.swept = std::any_of(links.begin(), links.end(), [](auto* s) { return has_knob(*s); });
  if (report.swept) report.grid = o.grid.empty() ? cost_weight_grid() : o.grid;
  // What a router trained on `records` of `f` learns: each model with an outcome there, under its
  // configured name (--alias) and, if that differs and no other model goes by it, under its name
  // in the file too (a learned stage's own aliases name the file's models); past what a router
  // can learn, only the configured models.
  const auto picks_in = [&](const OutcomeFile& f, std::span<const OutcomeRecord* const> records) {
    std::unordered_set<std::string> taken;  // every name a pick may not take twice
    for (const auto& m : f.models) taken.insert(configured_name(m));
    std::unordered_set<std::string> picked;
    ModelPicks picks;
    std::size_t models = 0;
    for (std::size_t i = 0; i < f.models.size(); ++i) {
      const std::string name = configured_name(f.models[i]);
      if (picked.contains(name) ||
          std::none_of(records.begin(), records.end(), [&](auto* r) { return r->outcomes[i]; }))
        continue;
      ++models;
      picked.insert(name);
      picks.emplace_back(name, static_cast<int>(i));
      if (name != f.models[i] && !taken.contains(f.models[i]))
        picks.emplace_back(f.models[i], static_cast<int>(i));
    }
    if (models > kMaxTrainedModels)
      std::erase_if(picks, [&](const auto& p) { return !configured.contains(p.first); });
    return picks;
  };
  // A training failure says how many of the file's prompts the evaluation had to skip.
  const auto training_failed = [&](Error e) {
    if (report.skipped)
      e.message += " (" + std::to_string(report.skipped) + " of " + o.data +
                   "'s prompts were skipped: an answer of a considered model missing)";
    return e;
  };
  TempModels temp;
  if (!o.train_data.empty()) {
    auto train_file = load_outcomes(o.train_data, o.train_split);
    if (!train_file) return train_file.error();
    std::vector<const OutcomeRecord*> records;
    records.reserve(train_file->records.size());
    for (const auto& r : train_file->records) records.push_back(&r);
    const std::string on = o.train_split.empty() ? o.train_data
                                                  : o.train_data + ":" + o.train_split;
    auto config =
        trained(base, o.route, *train_file, picks_in(*train_file, records), records, o.train, on,
                temp);
    if (!config) return config.error();
    base = std::move(*config);
  }
  std::vector<std::vector<std::size_t>> folds(1);
  if (o.cv) {
    folds = cv_folds(prompts, o.cv, o.seed);
  } else {
    folds[0].resize(n);
    std::iota(folds[0].begin(), folds[0].end(), 0);
  }
  auto sized = [&] {
    Column c;
    c.cost.assign(n, 0);
    c.quality.assign(n, 0);
    c.strong.assign(n, 0);
    return c;
  };
  d.configured = sized();
  d.curve.assign(report.grid.size(), sized());
  Metrics metrics;
  const std::size_t settings = folds.size() * (1 + report.grid.size());
  std::size_t settings_done = 0;
  auto replay = [&](const Config& config, const std::vector<std::size_t>& fold,
                    Column& out) -> Result<void> {
    auto built = build_snapshot(config, metrics);
    if (!built.snapshot) return fail(temp.described(built.error));
    Replayer replayer(built.snapshot, o.route, model_of_name);
    for (std::size_t j = 0; j < fold.size(); ++j) {
      const std::size_t i = fold[j];
      auto r = replayer.run(*prompts[i]);
      out.cost[i] = r.cost;
      out.quality[i] = r.quality;
      out.strong[i] =
          d.strong >= 0 && r.chosen == considered[static_cast<std::size_t>(d.strong)] ? 1 : 0;
      if (&out == &d.configured) {
        report.unanswered += r.chosen < 0;
        report.unrecorded_calls += r.unrecorded;
        report.logprob_calls += r.logprobs_asked;
        report.sampled_calls += r.choices_asked;
      }
      if (o.progress && (j % 500 == 0 || j + 1 == fold.size()))
        std::fprintf(stderr, "\reval: setting %zu/%zu, prompt %zu/%zu   ", settings_done + 1,
                     settings, j + 1, fold.size());
    }
    ++settings_done;
    return {};
  };
  for (std::size_t k = 0; k < folds.size(); ++k) {
    Config config = base;
    if (o.cv) {
      std::vector<const OutcomeRecord*> rest;
      for (std::size_t j = 0; j < folds.size(); ++j)
        if (j != k)
          for (std::size_t i : folds[j]) rest.push_back(prompts[i]);
      auto folded = trained(base, o.route, *file, picks_in(*file, rest), rest, o.train,
                            "fold " + std::to_string(k + 1), temp);
      if (!folded) return training_failed(folded.error());
      config = std::move(*folded);
    }
    if (auto r = replay(config, folds[k], d.configured); !r) return r.error();
    for (std::size_t g = 0; g < report.grid.size(); ++g)
      if (auto r = replay(with_knob(config, o.route, report.grid[g]), folds[k], d.curve[g]); !r) {
        auto e = r.error();
        e.message = std::string(kKnob) + "=" + std::to_string(report.grid[g]) + ": " + e.message;
        return e;
      }
  }
  if (o.progress) std::fprintf(stderr, "\n");
  if (report.unanswered == n)
    return fail("route \"" + o.route + "\" answered none of the " + std::to_string(n) +
                " prompts: it has no candidate among the models considered (the configured ones "
                "the file has, or the --strong/--weak pair), or every call failed");

  // Figures, with their bootstrap intervals.
  std::vector<std::string> names;
  const auto values = figures(d, nullptr, &names);
  std::vector<std::vector<double>> samples(values.size());
  std::mt19937_64 rng(o.seed);
  for (std::uint32_t b = 0; b < o.bootstrap; ++b) {
    auto w = bootstrap_counts(n, rng);
    auto f = figures(d, &w, nullptr);
    for (std::size_t k = 0; k < f.size(); ++k) samples[k].push_back(f[k]);
  }
  for (std::size_t k = 0; k < values.size(); ++k)
    report.figures.push_back({names[k], percentile_interval(values[k], std::move(samples[k]))});

  report.models = d.models;
  report.best_model = d.models[d.best];
  for (std::size_t m = 0; m < nm; ++m)
    report.singles.emplace_back(d.models[m], point(d.singles[m], nullptr));
  report.random = point(d.random, nullptr);
  report.oracle = point(d.oracle, nullptr);
  for (const auto& c : d.oracle_curve) report.oracle_curve.push_back(point(c, nullptr));
  report.configured = point(d.configured, nullptr);
  for (const auto& c : d.curve) {
    report.curve.push_back(point(c, nullptr));
    if (d.strong >= 0) report.strong_share.push_back(weighted_mean(c.strong, nullptr));
  }
  return report;
}

}  // namespace switchyard::offline

namespace switchyard::offline {

namespace {

constexpr const char* kEvalUsage = R"(usage: switchyard eval --config FILE --data FILE[:split] [options]

Replays a route of the config over an outcomes file (the ../shared/data format) in process and
prints how it trades quality for cost against each single model, uniform random and the oracle,
with 95% bootstrap intervals over prompts. (`switchyard eval --log FILE` compares the arms of
A/B experiments in a decision log instead: see `switchyard eval --log x --help`.)

  --config FILE        the gateway config whose route is evaluated; without it, with --train
                       or --cv: a learned route ("auto") over every model of the --data file,
                       each costing what the file records for it
  --route NAME         the route (default: auto)
  --data FILE[:split]  the outcomes file, and the split to evaluate (default: every line)
  --train FILE[:split] first train the route's learned stages and gates on this outcomes file
  --cv K               train and evaluate in K folds of the evaluated prompts (a repeated
                       prompt's copies in one fold)
  --alias A=B          the file's model A is the config's model B (repeatable)
  --strong M --weak M  also RouteLLM's APGR and CPT(50%), CPT(80%) for this pair (file names);
                       the route is restricted to them
  --grid V,V,...       the values the route's cost_weight takes (default: 0 and 1e-3..10)
  --bootstrap N        resamples for the intervals (default: 200)
  --csv FILE           the route's curve as CSV
  --svg FILE           quality against cost, with the baselines, as SVG
  --json               every figure as one JSON object instead of the table
)";

const Figure* find(const EvalReport& r, std::string_view name) {
  for (const auto& f : r.figures)
    if (f.name == name) return &f;
  return nullptr;
}

std::string number(double v, const char* format) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// "0.809 [0.790, 0.826]", in `format` (or as a percentage).
std::string with_interval(const EvalReport& r, std::string_view name, const char* format,
                          double scale = 1) {
  const Figure* f = find(r, name);
  if (!f) return "";
  if (!std::isfinite(f->value.value)) return "-";
  return number(f->value.value * scale, format) + " [" + number(f->value.lo * scale, format) +
         ", " + number(f->value.hi * scale, format) + "]";
}

void print_table(const EvalReport& r, const EvalOptions& o) {
  std::printf("route \"%s\" on %s%s%s: %zu prompts", r.route.c_str(), o.data.c_str(),
              o.split.empty() ? "" : ":", o.split.c_str(), r.prompts);
  if (r.skipped) std::printf(" (%zu skipped: an answer missing)", r.skipped);
  std::printf(", %zu models\n", r.models.size());
  if (!r.left_out.empty()) {
    std::printf("left out (the file has no such model):");
    for (const auto& m : r.left_out) std::printf(" %s", m.c_str());
    std::printf("\n");
  }
  if (r.unanswered)
    std::printf("note: %zu prompts got no answer (quality 0): the route had no candidate among "
                "the models considered for them, or every call failed\n",
                r.unanswered);
  if (r.unrecorded_calls)
    std::printf("note: %zu calls asked what the file has no answer to (a judge's prompt): each "
                "failed as a down upstream would, at no cost, so gates that call are not "
                "evaluated here\n",
                r.unrecorded_calls);
  if (r.logprob_calls)
    std::printf("note: %zu calls asked for token logprobs, which the file does not record: a "
                "logprobs gate fails every answer here\n",
                r.logprob_calls);
  if (r.sampled_calls)
    std::printf("note: %zu calls asked for several choices (\"n\"), and the file records one "
                "answer: an agreement gate that samples sees one of those it asked for here\n",
                r.sampled_calls);
  if (const Figure* best = find(r, "single." + r.best_model + ".cost");
      best && !(best->value.value > 0))
    std::printf("note: %s, the best single model, has no recorded cost: the cost shares, of its "
                "cost, are undefined (-), and so is AIQ if no model has one\n",
                r.best_model.c_str());
  if (r.swept) std::printf("cost knob: %s swept over %zu values\n", kKnob, r.grid.size());
  std::printf("cost shares are of the best single model's cost (%s)\n\n", r.best_model.c_str());
  std::printf("%-40s %-34s %-22s %-22s %-22s %-22s\n", "policy", "cost per prompt, USD",
              "quality", "AIQ", "cost to 95%", "cost to 99%");
  auto row = [&](const std::string& label, const std::string& p, bool point, bool curve) {
    std::printf("%-40s %-34s %-22s %-22s %-22s %-22s\n", label.c_str(),
                point ? with_interval(r, p + ".cost", "%.6f").c_str() : "",
                point ? with_interval(r, p + ".quality", "%.3f").c_str() : "",
                with_interval(r, p + ".aiq", "%.3f").c_str(),
                curve ? with_interval(r, p + ".cost_to_95", "%.1f%%", 100).c_str() : "",
                curve ? with_interval(r, p + ".cost_to_99", "%.1f%%", 100).c_str() : "");
  };
  row(r.route + (r.swept ? " (as configured; AIQ: swept)" : ""), "route", true, true);
  row("oracle", "oracle", true, true);
  row("single models and their mixtures", "mixtures", false, true);
  row("uniform random", "random", true, false);
  for (const auto& [m, p] : r.singles) row("  " + m, "single." + m, true, false);
  if (find(r, "route.apgr")) {
    std::printf("\nRouteLLM (strong %s, weak %s): APGR %s  CPT(50%%) %s  CPT(80%%) %s\n",
                o.strong.c_str(), o.weak.c_str(), with_interval(r, "route.apgr", "%.3f").c_str(),
                with_interval(r, "route.cpt_50", "%.1f%%", 100).c_str(),
                with_interval(r, "route.cpt_80", "%.1f%%", 100).c_str());
  }
}

nlohmann::json to_json(const EvalReport& r) {
  using nlohmann::json;
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  json figures = json::object();
  for (const auto& f : r.figures)
    figures[f.name] = {
        {"value", num(f.value.value)}, {"lo", num(f.value.lo)}, {"hi", num(f.value.hi)}};
  json curve = json::array();
  for (std::size_t g = 0; g < r.curve.size(); ++g) {
    json p = {{kKnob, r.grid[g]}, {"cost", r.curve[g].cost}, {"quality", r.curve[g].quality}};
    if (!r.strong_share.empty()) p["strong_share"] = r.strong_share[g];
    curve.push_back(std::move(p));
  }
  return {{"route", r.route},
          {"prompts", r.prompts},
          {"skipped", r.skipped},
          {"models", r.models},
          {"left_out", r.left_out},
          {"unanswered", r.unanswered},
          {"unrecorded_calls", r.unrecorded_calls},
          {"logprob_calls", r.logprob_calls},
          {"sampled_calls", r.sampled_calls},
          {"best_model", r.best_model},
          {"figures", std::move(figures)},
          {"curve", std::move(curve)}};
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (out) return true;
  std::fprintf(stderr, "switchyard eval: cannot write %s\n", path.c_str());
  return false;
}

std::string csv(const EvalReport& r) {
  std::string out = std::string(kKnob) + ",cost_usd,quality" +
                    (r.strong_share.empty() ? "" : ",strong_share") + "\n";
  for (std::size_t g = 0; g < r.curve.size(); ++g) {
    char line[160];
    std::snprintf(line, sizeof line, "%.9g,%.9g,%.6f", r.grid[g], r.curve[g].cost,
                  r.curve[g].quality);
    out += line;
    if (!r.strong_share.empty()) out += "," + number(r.strong_share[g], "%.6f");
    out += "\n";
  }
  return out;
}

std::string svg(const EvalReport& r) {
  Plot plot;
  plot.title = "route " + r.route + ": quality against cost per prompt";
  if (r.swept) plot.curves.push_back({r.route, r.curve, true});
  plot.curves.push_back({"oracle", r.oracle_curve, false});
  if (!r.swept) plot.baselines.push_back({r.route, r.configured});
  for (const auto& [m, p] : r.singles) plot.baselines.push_back({m, p});
  plot.baselines.push_back({"random", r.random});
  return quality_cost_svg(plot);
}

// The config eval uses without --config: one upstream with the models of the outcomes file
// (without prices, so that each costs the mean the file records for it) and the route "auto",
// a learned stage over them, which --train or --cv trains. A model that answered fewer than half
// as many prompts as the most answered one is left out (and said so on stderr): eval keeps only
// the prompts every model of the route answered. Written as JSON, which YAML reads, so that any
// model name is quoted as it must be.
ConfigLoad learned_route_config(const std::string& data, const std::string& split) {
  auto file = load_outcomes(data, split);
  if (!file) return {std::nullopt, file.error().message};
  if (file->models.empty()) return {std::nullopt, data + ": no outcome of any model"};
  std::vector<std::size_t> answered(file->models.size());
  for (const auto& r : file->records)
    for (std::size_t m = 0; m < answered.size(); ++m) answered[m] += r.outcomes[m].has_value();
  const std::size_t most = *std::max_element(answered.begin(), answered.end());
  nlohmann::json models = nlohmann::json::array(), names = nlohmann::json::array();
  for (std::size_t m = 0; m < answered.size(); ++m) {
    if (!answered_enough(answered[m], most)) {
      std::fprintf(stderr, "eval: %s is left out of the route: it answered %zu of %zu prompts\n",
                   file->models[m].c_str(), answered[m], file->records.size());
      continue;
    }
    models.push_back({{"name", file->models[m]}});
    names.push_back(file->models[m]);
  }
  const nlohmann::json config = {
      {"upstreams", {{{"name", "recorded"}, {"base_url", "http://127.0.0.1:9/v1"},
                      {"models", models}}}},
      {"routes",
       {{"auto",
         {{"stages", {{{"type", "learned"}, {"model", "trained-by-eval.swr"},
                       {"models", names}, {"cost_weight", 0.1}}}},
          {"dispatcher", {{"type", "single"}}}}}}}};
  auto loaded = parse_config(config.dump(), data);
  if (!loaded.config)
    loaded.error = "the route built from the models of " + data + ": " + loaded.error;
  return loaded;
}

}  // namespace

int eval_main(int argc, char** argv) {
  for (int i = 0; i < argc; ++i)
    if (std::string_view(argv[i]) == "--log") return eval_log_main(argc, argv);
  EvalOptions o;
  std::string config_path, csv_path, svg_path;
  bool as_json = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard eval: %s needs a value\n%s", a.c_str(), kEvalUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    auto bad = [&](const std::string& why) {
      std::fprintf(stderr, "switchyard eval: %s: %s\n", a.c_str(), why.c_str());
      return 2;
    };
    if (a == "--config") config_path = value();
    else if (a == "--route") o.route = value();
    else if (a == "--train") std::tie(o.train_data, o.train_split) = file_and_split(value());
    else if (a == "--cv") {
      auto v = value();
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), o.cv);
      if (ec != std::errc() || end != v.data() + v.size() || o.cv < 2 || o.cv > 100)
        return bad("expected a number of folds from 2 to 100");
    }
    else if (a == "--data") {
      std::tie(o.data, o.split) = file_and_split(value());
    } else if (a == "--alias") {
      auto v = value();
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) return bad("expected A=B");
      o.aliases.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--strong") o.strong = value();
    else if (a == "--weak") o.weak = value();
    else if (a == "--grid") {
      auto v = value();
      for (std::size_t p = 0; p <= v.size();) {
        auto comma = std::min(v.find(',', p), v.size());
        double x = 0;
        auto [end, ec] = std::from_chars(v.data() + p, v.data() + comma, x);
        if (ec != std::errc() || end != v.data() + comma || !(x >= 0))
          return bad("expected numbers at least 0, separated by commas");
        o.grid.push_back(x);
        p = comma + 1;
      }
    } else if (a == "--bootstrap") {
      auto v = value();
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), o.bootstrap);
      if (ec != std::errc() || end != v.data() + v.size()) return bad("expected a number");
    } else if (auto f = train_flag(a, value, o.train); f != TrainFlag::unknown) {
      if (f == TrainFlag::bad) return bad("not a valid value");
    } else if (a == "--csv") csv_path = value();
    else if (a == "--svg") svg_path = value();
    else if (a == "--json") as_json = true;
    else if (a == "--help" || a == "-h") {
      std::printf("%s\nTraining, with --train or --cv:\n%s", kEvalUsage, kTrainFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "switchyard eval: unknown option %s\n%s", a.c_str(), kEvalUsage);
      return 2;
    }
  }
  if (o.data.empty() || (config_path.empty() && o.train_data.empty() && !o.cv)) {
    std::fprintf(stderr, "switchyard eval: --data is required, and --config unless --train or --cv "
                 "is given\n%s", kEvalUsage);
    return 2;
  }
  auto loaded = config_path.empty() ? learned_route_config(o.data, o.split)
                                    : load_config_file(config_path);
  if (!loaded.config) {
    std::fprintf(stderr, "switchyard eval: %s\n", loaded.error.c_str());
    return 1;
  }
  o.config = std::move(*loaded.config);
  o.progress = !as_json && ::isatty(STDERR_FILENO);
  auto report = evaluate(o);
  if (!report) {
    std::fprintf(stderr, "switchyard eval: %s\n", report.error().message.c_str());
    return 1;
  }
  if (as_json)
    std::printf("%s\n", to_json(*report).dump(2).c_str());
  else
    print_table(*report, o);
  if (!csv_path.empty() && (!report->swept || !write_file(csv_path, csv(*report)))) {
    if (!report->swept)
      std::fprintf(stderr, "switchyard eval: --csv: the route has no cost knob\n");
    return 1;
  }
  if (!svg_path.empty() && !write_file(svg_path, svg(*report))) return 1;
  return 0;
}

}  // namespace switchyard::offline
