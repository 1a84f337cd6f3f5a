#include "offline/train.hpp"

#include "api/prompt.hpp"
#include "offline/decision_log.hpp"
#include "router/gates/gates.hpp"
#include "router/gates/learned.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <random>

namespace switchyard::offline {

namespace {

// One training prompt: its features and, per model, its recorded outcome (or none).
struct Example {
  std::vector<Feature> x;
  std::vector<const Outcome*> outcomes;
};

std::vector<Example> examples(std::span<const OutcomeRecord* const> records,
                              const ModelPicks& picks, FeatureSpace space) {
  std::vector<Example> out;
  out.reserve(records.size());
  for (const auto* r : records) {
    Example e;
    const PromptInfo p =
        read_prompt(Endpoint::chat_completions, R"({"messages":)" + r->messages + "}");
    hashed_features(p, prompt_features(p), space, e.x);
    for (const auto& [name, m] : picks) {
      const auto& oc = r->outcomes[static_cast<std::size_t>(m)];
      e.outcomes.push_back(oc ? &*oc : nullptr);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// The logit of a model's mean quality, the mean kept within [0.01, 0.99] so that a model always
// right or always wrong has a finite one: where fit() starts each model, and where shrink()
// moves its predictions toward.
double mean_logit(double mean) {
  const double q = std::clamp(mean, 0.01, 0.99);
  return std::log(q / (1 - q));
}

// The weights of both heads, trained by AdaGrad on `train`.
void fit(LearnedModel& model, const std::vector<const Example*>& train, const TrainOptions& o) {
  const std::size_t nm = model.models.size(), nf = model.features();
  model.weights.assign(nf * 2 * nm, 0.0f);
  std::vector<float> g2(model.weights.size(), 0.0f);  // squared gradients so far
  // Start each model at its mean: the bias feature is the first dense one.
  const auto bias = std::uint32_t{1} << model.space.hash_bits;
  for (std::size_t m = 0; m < nm; ++m) {
    double q = 0, t = 0, n = 0;
    for (const auto* e : train)
      if (const auto* oc = e->outcomes[m])
        q += oc->quality, t += std::log1p(oc->output_tokens), ++n;
    if (n == 0) continue;
    model.weights[model.at(bias, 0, m)] = static_cast<float>(mean_logit(q / n));
    model.weights[model.at(bias, 1, m)] = static_cast<float>(t / n);
  }
  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::vector<double> zq(nm), zt(nm), dq(nm), dt(nm);
  const float lr = static_cast<float>(o.learning_rate), l2 = static_cast<float>(o.l2);
  for (std::uint32_t epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      const Example& e = *train[i];
      std::fill(zq.begin(), zq.end(), 0.0);
      std::fill(zt.begin(), zt.end(), 0.0);
      for (const auto& f : e.x)
        for (std::size_t m = 0; m < nm; ++m) {
          zq[m] += model.weights[model.at(f.index, 0, m)] * f.value;
          zt[m] += model.weights[model.at(f.index, 1, m)] * f.value;
        }
      for (std::size_t m = 0; m < nm; ++m) {
        const Outcome* oc = e.outcomes[m];
        dq[m] = oc ? 1 / (1 + std::exp(-zq[m])) - oc->quality : 0;
        dt[m] = oc ? zt[m] - std::log1p(oc->output_tokens) : 0;
      }
      for (const auto& f : e.x)
        for (std::size_t m = 0; m < nm; ++m) {
          if (!e.outcomes[m]) continue;
          for (std::size_t head = 0; head < 2; ++head) {
            const std::size_t k = model.at(f.index, head, m);
            const double d = head == 0 ? dq[m] : dt[m];
            const float g = static_cast<float>(d) * f.value + l2 * model.weights[k];
            g2[k] += g * g;
            model.weights[k] -= lr * g / std::sqrt(g2[k] + 1e-8f);
          }
        }
    }
  }
}

// What routing `held` by `model` did at each cost weight. Costs are the trained means, as the
// stage uses for a model with no configured price.
std::vector<Calibration> calibrate(const LearnedModel& model,
                                   const std::vector<const Example*>& held) {
  const std::size_t nm = model.models.size();
  std::vector<std::vector<double>> q(held.size(), std::vector<double>(nm)), t = q;
  for (std::size_t i = 0; i < held.size(); ++i) model.predict(held[i]->x, q[i], t[i]);
  std::vector<Calibration> out;
  for (double w : cost_weight_grid()) {
    double strongest = 0, cost = 0, strongest_cost = 0, n = 0;
    for (std::size_t i = 0; i < held.size(); ++i) {
      const auto* best_oc = held[i]->outcomes[model.strongest];
      if (!best_oc) continue;
      std::size_t pick = nm;
      double best = -1e300;
      for (std::size_t m = 0; m < nm; ++m) {
        if (!held[i]->outcomes[m]) continue;
        const double s = q[i][m] - w * model.mean_cost[m] / model.reference_cost;
        if (s > best) best = s, pick = m;
      }
      strongest += pick == model.strongest;
      cost += held[i]->outcomes[pick]->cost_usd;
      strongest_cost += best_oc->cost_usd;
      ++n;
    }
    if (n == 0) break;
    out.push_back({w, strongest / n, strongest_cost > 0 ? cost / strongest_cost : 0});
  }
  return out;
}

// Moves every quality prediction of `model` toward its model's prior, keeping `alpha` of the
// distance in logits: the features' weights scaled by alpha, the bias moved to match. 1 keeps
// the model as trained; 0 leaves each model's mean quality alone, whatever the prompt.
void shrink(LearnedModel& model, double alpha) {
  if (alpha == 1) return;
  const auto a = static_cast<float>(alpha);
  const std::uint32_t bias = std::uint32_t{1} << model.space.hash_bits;
  for (std::size_t m = 0; m < model.models.size(); ++m) {
    const auto prior = static_cast<float>(mean_logit(model.mean_quality[m]));
    for (std::uint32_t f = 0; f < model.features(); ++f) {
      float& w = model.weights[model.at(f, 0, m)];
      w = f == bias ? prior + a * (w - prior) : a * w;
    }
  }
}

// Of kShrinks, the alpha (see shrink) whose predictions of the recorded qualities of `held` have
// the least log loss: 1 where the prompt's features predict, less where they mostly add noise, as
// on a file of few prompts or of models that differ little by prompt. Ties keep the larger.
constexpr std::array<double, 5> kShrinks = {1, 0.75, 0.5, 0.25, 0};
double best_shrink(const LearnedModel& model, const std::vector<const Example*>& held) {
  const std::size_t nm = model.models.size();
  std::array<double, kShrinks.size()> loss{};
  std::vector<double> q(nm), t(nm);
  for (const auto* e : held) {
    model.predict(e->x, q, t);
    for (std::size_t m = 0; m < nm; ++m) {
      const Outcome* oc = e->outcomes[m];
      if (!oc) continue;
      const double p = std::clamp(q[m], 1e-9, 1 - 1e-9);
      const double z = std::log(p / (1 - p)), prior = mean_logit(model.mean_quality[m]);
      for (std::size_t k = 0; k < kShrinks.size(); ++k) {
        const double s = 1 / (1 + std::exp(-(prior + kShrinks[k] * (z - prior))));
        loss[k] -= oc->quality * std::log(s) + (1 - oc->quality) * std::log(1 - s);
      }
    }
  }
  return kShrinks[static_cast<std::size_t>(std::min_element(loss.begin(), loss.end()) -
                                           loss.begin())];
}

}  // namespace

std::vector<double> cost_weight_grid() {
  std::vector<double> g{0};
  for (int k = 0; k <= 32; ++k) g.push_back(std::pow(10.0, -3 + k / 8.0));
  return g;
}

Result<LearnedModel> train_router(const OutcomeFile& file,
                                  std::span<const OutcomeRecord* const> records,
                                  const TrainOptions& o, std::string trained_on,
                                  const ModelPicks& picks) {
  auto fail = [](std::string m) { return make_error(Reason::bad_request, std::move(m)); };
  if (records.size() < 10)
    return fail("too few prompts to train on (" + std::to_string(records.size()) +
                "; at least 10)");
  ModelPicks every;
  if (picks.empty())
    for (std::size_t m = 0; m < file.models.size(); ++m)
      every.emplace_back(file.models[m], static_cast<int>(m));
  const ModelPicks& use = picks.empty() ? every : picks;
  if (use.empty()) return fail("no model has an outcome to train on");
  if (use.size() > kMaxTrainedModels)
    return fail("at most " + std::to_string(kMaxTrainedModels) +
                " models can be trained at once (" + std::to_string(use.size()) + " given)");
  if (o.space.hash_bits < 8 || o.space.hash_bits > 24)
    return fail("hash_bits is between 8 and 24");
  if (o.space.char_ngrams > 8) return fail("char_ngrams is between 0 and 8");
  LearnedModel model;
  model.space = o.space;
  for (const auto& [name, m] : use) model.models.push_back(name);
  model.trained_on = std::move(trained_on);
  const std::size_t nm = use.size();
  model.mean_quality.assign(nm, 0);
  model.mean_cost.assign(nm, 0);
  std::vector<double> answered(nm, 0);
  for (std::size_t m = 0; m < nm; ++m) {
    double q = 0, c = 0, n = 0;
    for (const auto* r : records)
      if (const auto& oc = r->outcomes[static_cast<std::size_t>(use[m].second)])
        q += oc->quality, c += oc->cost_usd, ++n;
    if (n == 0) return fail("model " + use[m].first + " has no outcome in the training prompts");
    model.mean_quality[m] = q / n;
    model.mean_cost[m] = c / n;
    answered[m] = n;
  }
  const double most = *std::max_element(answered.begin(), answered.end());
  for (std::size_t m = 0; m < nm; ++m)
    if (answered_enough(answered[m], most) &&
        (!answered_enough(answered[model.strongest], most) ||
         model.mean_quality[m] > model.mean_quality[model.strongest]))
      model.strongest = static_cast<std::uint32_t>(m);
  model.reference_cost = model.mean_cost[model.strongest];
  if (!(model.reference_cost > 0)) model.reference_cost = 1e-9;

  auto all = examples(records, use, o.space);
  std::vector<const Example*> shuffled;
  shuffled.reserve(all.size());
  for (const auto& e : all) shuffled.push_back(&e);
  std::mt19937_64 rng(o.seed);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const auto held_n = static_cast<std::size_t>(static_cast<double>(shuffled.size()) * o.holdout);
  double alpha = 1;
  if (held_n > 0) {
    std::vector<const Example*> fit_part(shuffled.begin() + static_cast<std::ptrdiff_t>(held_n),
                                         shuffled.end());
    std::vector<const Example*> held(shuffled.begin(),
                                     shuffled.begin() + static_cast<std::ptrdiff_t>(held_n));
    fit(model, fit_part, o);
    alpha = best_shrink(model, held);
    shrink(model, alpha);
    model.calibration = calibrate(model, held);
  }
  fit(model, shuffled, o);
  shrink(model, alpha);
  return model;
}

Result<LearnedModel> train_escalation(const OutcomeFile& file,
                                      std::span<const OutcomeRecord* const> records,
                                      Escalation escalation, const TrainOptions& o,
                                      std::string trained_on, const ModelPicks& picks) {
  auto fail = [](std::string m) { return make_error(Reason::bad_request, std::move(m)); };
  auto index = [&](const std::string& name) {
    auto it =
        std::find_if(picks.begin(), picks.end(), [&](const auto& p) { return p.first == name; });
    return it == picks.end() ? file.model_index(name) : it->second;
  };
  std::vector<std::size_t> from;
  from.reserve(escalation.from.size());
  for (const auto& name : escalation.from) {
    if (index(name) < 0) return fail("model " + name + " is not in the file");
    from.push_back(static_cast<std::size_t>(index(name)));
  }
  if (index(escalation.to) < 0) return fail("model " + escalation.to + " is not in the file");
  const auto to = static_cast<std::size_t>(index(escalation.to));

  // Per prompt that every model answered: the answer the cascade would judge (the first of the
  // largest group that agree), and as its "outcome" the gain of escalating, mapped to 0..1.
  std::vector<Outcome> gains;
  gains.reserve(records.size());
  std::vector<Example> all;
  all.reserve(records.size());
  std::vector<Answer> answers(from.size());
  std::vector<std::string> keys(from.size());
  double gain_sum = 0, cost_sum = 0;
  for (const auto* r : records) {
    const auto& strong = r->outcomes[to];
    if (!strong || std::any_of(from.begin(), from.end(), [&](auto m) { return !r->outcomes[m]; }))
      continue;
    for (std::size_t k = 0; k < from.size(); ++k) {
      answers[k] = Answer{.readable = true, .text = r->outcomes[from[k]]->response,
                          .finish_reason = "stop", .tool_calls = {}, .logprobs = {}};
      keys[k] = agreement_key(answers[k]);
    }
    std::size_t best = 0, chosen = 0;
    for (std::size_t k = 0; k < from.size(); ++k)
      if (auto n = static_cast<std::size_t>(std::count(keys.begin(), keys.end(), keys[k]));
          n > best)
        best = n, chosen = k;
    Example e;
    const PromptInfo p =
        read_prompt(Endpoint::chat_completions, R"({"messages":)" + r->messages + "}");
    escalation_features(p, answers[chosen], static_cast<double>(best) / from.size(), o.space,
                        e.x);
    const double gain = strong->quality - r->outcomes[from[chosen]]->quality;
    gains.push_back({.quality = (1 + gain) / 2, .cost_usd = strong->cost_usd,
                     .output_tokens = strong->output_tokens, .response = {}});
    e.outcomes = {&gains.back()};
    all.push_back(std::move(e));
    gain_sum += gain, cost_sum += strong->cost_usd;
  }
  if (all.size() < 10)
    return fail("too few prompts with answers of every model to train on (" +
                std::to_string(all.size()) + ")");
  LearnedModel model;
  model.space = o.space;
  model.models = {escalation.to};
  model.escalation = std::move(escalation);
  model.trained_on = std::move(trained_on);
  const auto n = static_cast<double>(all.size());
  model.mean_quality = {gain_sum / n};
  model.mean_cost = {cost_sum / n};
  model.reference_cost = cost_sum > 0 ? cost_sum / n : 1e-9;
  std::vector<const Example*> train;
  train.reserve(all.size());
  for (const auto& e : all) train.push_back(&e);
  fit(model, train, o);
  return model;
}

}  // namespace switchyard::offline

namespace switchyard::offline {

namespace {

constexpr const char* kTrainUsage = R"(usage: switchyard train --data FILE[:split] --out MODEL [options]

Learns, for every model in an outcomes file (the ../shared/data format), the expected quality of
its answer to a prompt and its expected output tokens, from the prompt's text alone, and writes
a model file for the `learned` stage. A share of the prompts is held back to calibrate cost
targets (target: {strongest_share: ...} or {cost_share: ...}).

  --data FILE[:split]  the outcomes file and its splits to learn from, e.g. FILE:train,validation
  --split S            the same as FILE:S
  --log FILE           or learn from the gateway's decision log (repeatable; rotated files oldest
                       first): each answered request with a prompt (decision_log.prompts) and a
                       feedback score teaches the quality of the model that answered it
  --out MODEL          the model file to write
  --escalate FROM=TO   write an escalation model for a cascade's learned gate instead: how much
                       quality TO's answer gains over FROM's, from the prompt and FROM's answer;
                       FROM may list a tier's models (A,B=TO), whose agreement it then reads
)";

}  // namespace

const char* const kTrainFlagsHelp = R"(  --hash-bits N        2^N hashed features (default 14)
  --char-ngrams N      hash the prompt's N-byte windows too, 1 to 8; 0 for none (default 0)
  --epochs N           passes over the data (default 10)
  --learning-rate X    AdaGrad's step (default 0.05)
  --l2 X               weight decay (default 1e-6)
  --seed N             for the shuffles and the held-back share (default 1)
)";

namespace {

bool number(const std::string& v, auto& out) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size();
}

}  // namespace

TrainFlag train_flag(const std::string& flag, const std::function<std::string()>& value,
                     TrainOptions& o) {
  bool ok = true;
  if (flag == "--hash-bits")
    ok = number(value(), o.space.hash_bits) && o.space.hash_bits >= 8 && o.space.hash_bits <= 24;
  else if (flag == "--char-ngrams")
    ok = number(value(), o.space.char_ngrams) && o.space.char_ngrams <= 8;
  else if (flag == "--epochs") ok = number(value(), o.epochs) && o.epochs > 0;
  else if (flag == "--learning-rate") ok = number(value(), o.learning_rate) && o.learning_rate > 0;
  else if (flag == "--l2") ok = number(value(), o.l2) && o.l2 >= 0;
  else if (flag == "--seed") ok = number(value(), o.seed);
  else return TrainFlag::unknown;
  return ok ? TrainFlag::read : TrainFlag::bad;
}

// Splits "FILE:split" where what follows the last ':' is not a path.
std::pair<std::string, std::string> file_and_split(const std::string& arg) {
  auto colon = arg.rfind(':');
  if (colon == std::string::npos || arg.find('/', colon) != std::string::npos) return {arg, ""};
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

namespace {

Result<OutcomeFile> outcomes_of_logs(const std::vector<std::string>& logs) {
  auto requests = load_decision_log(logs);
  if (!requests) return requests.error();
  return log_outcomes(*requests);
}

}  // namespace

int train_main(int argc, char** argv) {
  TrainOptions o;
  std::string data, split, out, escalate;
  std::vector<std::string> logs;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard train: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") std::tie(data, split) = file_and_split(value());
    else if (a == "--split") split = value();
    else if (a == "--log") logs.push_back(value());
    else if (a == "--out") out = value();
    else if (a == "--escalate") escalate = value();
    else if (a == "--help" || a == "-h") {
      std::printf("%s%s", kTrainUsage, kTrainFlagsHelp);
      return 0;
    } else if (auto f = train_flag(a, value, o); f == TrainFlag::bad) {
      std::fprintf(stderr, "switchyard train: %s: not a valid value\n", a.c_str());
      return 2;
    } else if (f == TrainFlag::unknown) {
      std::fprintf(stderr, "switchyard train: unknown option %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (data.empty() == logs.empty() || out.empty()) {
    std::fprintf(stderr,
                 "switchyard train: --out and one of --data and --log are required (see --help)\n");
    return 2;
  }
  auto file = logs.empty() ? load_outcomes(data, split) : outcomes_of_logs(logs);
  if (!file) {
    std::fprintf(stderr, "switchyard train: %s\n", file.error().message.c_str());
    return 1;
  }
  std::vector<const OutcomeRecord*> records;
  records.reserve(file->records.size());
  for (const auto& r : file->records) records.push_back(&r);
  if (!logs.empty()) data = logs.size() == 1 ? logs[0] : logs[0] + " and later logs";
  const std::string what = data + (split.empty() ? "" : ":" + split) + " (" +
                           std::to_string(records.size()) + " prompts)";
  std::optional<Escalation> pair;
  if (!escalate.empty()) {
    const auto eq = escalate.rfind('=');
    pair.emplace();
    for (std::size_t at = 0; eq != std::string::npos && at < eq;) {
      const auto comma = std::min(escalate.find(',', at), eq);
      pair->from.push_back(escalate.substr(at, comma - at));
      at = comma + 1;
    }
    if (eq != std::string::npos) pair->to = escalate.substr(eq + 1);
    if (pair->to.empty() || pair->from.empty() ||
        std::any_of(pair->from.begin(), pair->from.end(),
                    [&](auto& m) { return m.empty() || m == pair->to; })) {
      std::fprintf(stderr, "switchyard train: --escalate: expected FROM[,FROM...]=TO, each FROM "
                           "another model than TO\n");
      return 2;
    }
  }
  auto model = pair ? train_escalation(*file, records, *pair, o, what)
                    : train_router(*file, records, o, what);
  if (!model) {
    std::fprintf(stderr, "switchyard train: %s\n", model.error().message.c_str());
    return 1;
  }
  if (auto r = model->save(out); !r) {
    std::fprintf(stderr, "switchyard train: %s\n", r.error().message.c_str());
    return 1;
  }
  if (pair) {
    std::printf("trained on %s: escalating from %s to %s gains %.3f quality on average\nwrote %s\n",
                what.c_str(), escalate.substr(0, escalate.rfind('=')).c_str(), pair->to.c_str(),
                model->mean_quality[0], out.c_str());
    return 0;
  }
  std::printf("trained on %s: %zu models, strongest %s (quality %.3f, %.6f USD)\nwrote %s\n",
              what.c_str(), model->models.size(), model->models[model->strongest].c_str(),
              model->mean_quality[model->strongest], model->reference_cost, out.c_str());
  return 0;
}

}  // namespace switchyard::offline
