// `cascade`: tiers of models, cheapest first. Every tier but the last answers and is judged by
// its quality gates (router/gates/gates.hpp) before anything reaches the client: an answer that
// passes is committed; one that fails, or a tier whose calls all fail, escalates to the next
// tier; an upstream's 4xx (the request is at fault) goes back at once, as `single` sends it;
// the last tier's answer is returned whatever it says, streamed straight through to a
// streaming client. A tier with an `agreement` gate asks all its available models at once (each
// for `samples` choices, by "n", when it has them) and commits the answer the most of them
// agree on (the first among equals; of a sampled call, only that choice, as choice 0). A tier's
// models are those of its list that the stages before chose (ctx.candidates), in the order they
// chose them; a tier with none is skipped, and a gated tier with no later tier left is judged by
// its own gates (counted; none that calls out) but its answer is returned, as the last tier's
// is. A tier's code validator (gates/code_check.hpp), similarity check (gates/similar.hpp) and
// judge (another model that grades the answer, gates/judge.hpp) run after its other gates, in
// that order, each only when its finding can still decide. A tier that names a model an
// earlier tier already asked (the same way) judges that answer again instead of calling again:
// `[Yi]` gated by its `predicted` quality, then `[Yi, Mixtral]` by agreement, pays Yi once.
// Earlier tiers' answers reach a streaming client as a replay of their events. Every call is
// billed (AttemptRecord) and counted; the response says how many tiers ran (x-switchyard-tiers)
// and why each escalated (x-switchyard-escalations).
// Cancellation (the client went away) reaches the calls in flight.
//
//   dispatcher:
//     type: cascade
//     tiers:
//       - models: [mistral-7b, mixtral-8x7b]
//         gates: {refusal: true, agreement: {min_share: 1}}
//       - models: [gpt-4o-mini]
//         gates: {finish_reason: [length, content_filter], json: true}
//         gates_by_caller: {free: {finish_reason: [content_filter]}}  # by the key's tier
//         under_load: {at: 0.8, gates: {refusal: true}}  # while the next tier is this busy
//       - models: [gpt-4o]        # the last tier: no gates
#include "router/cascade/cascade.hpp"

#include "config/yaml_map.hpp"
#include "core/cancelled.hpp"
#include "metrics/metrics.hpp"
#include "router/call.hpp"
#include "router/gates/gates.hpp"

#include <algorithm>
#include <map>

namespace switchyard {

namespace {

// A tier's gates, with the counters of their verdicts.
struct GateSet {
  Gates gates;
  std::vector<LazyCounters*> verdicts;  // per gate in gates.list
  // The other gates'.
  LazyCounters *agreed = nullptr, *coded = nullptr, *compared = nullptr, *judged = nullptr;
};

struct Tier {
  // Every (upstream, model) of its models; compared with the candidates by model and upstream,
  // as each stage has Targets of its own.
  std::vector<const Target*> targets;
  std::size_t models = 0;  // how many models it names
  // None on the last tier. A caller whose key's tier has gates of its own is judged by them;
  // else, while the next tier is busy (load_at), by under_load; else by `gates`.
  std::optional<GateSet> gates;
  std::map<std::string, GateSet, std::less<>> by_caller;
  std::optional<GateSet> under_load;
  double load_at = 1;  // a share of each upstream's max_concurrent
};

GateSet read_gate_set(const YAML::Node& node, const std::string& path, BuildContext& ctx) {
  GateSet s{read_gates(node, path, ctx), {}, nullptr, nullptr, nullptr, nullptr};
  Metrics& metrics = ctx.metrics();
  const std::string route(ctx.route());
  for (const auto& gate : s.gates.list)
    s.verdicts.push_back(&metrics.gate_results(route, std::string(gate->name())));
  if (s.gates.agreement) s.agreed = &metrics.gate_results(route, "agreement");
  if (s.gates.code) s.coded = &metrics.gate_results(route, "code");
  if (s.gates.similar) s.compared = &metrics.gate_results(route, "similar");
  if (s.gates.judge) s.judged = &metrics.gate_results(route, "judge");
  return s;
}

// One answer of a tier: the call it came from and its choice there.
struct Said {
  std::size_t call = 0;
  std::uint32_t choice = 0;
  Answer answer;
};

// An answer of an earlier tier, kept for a later tier that names its model: asking it again
// the same way would cost a second call for an answer the cascade has.
struct Kept {
  CallResult result;
  CallOptions ask;
};

// The kept answer of `t`'s model asked for as `ask` asks (or with logprobs besides), taken out
// of `kept`; nullopt if there is none.
std::optional<CallResult> take_kept(std::vector<Kept>& kept, const Target& t,
                                    const CallOptions& ask) {
  auto it = std::find_if(kept.begin(), kept.end(), [&](const Kept& k) {
    return same_target(*k.result.target, t) && k.ask.samples == ask.samples &&
           (k.ask.logprobs || !ask.logprobs);
  });
  if (it == kept.end()) return std::nullopt;
  std::optional<CallResult> r(std::move(it->result));
  kept.erase(it);
  return r;
}

// Counts a gate's verdict: pass when `finding` is empty.
void count(LazyCounters& verdicts, const std::string& finding) {
  verdicts.inc(finding.empty(), finding.empty() ? "pass" : "fail");
}

// Keeps a reason fit for a response header: printable ASCII, at most 200 bytes.
std::string header_safe(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += c >= 0x20 && c < 0x7f ? c : ' ';
  return out;
}

class CascadeDispatcher final : public Dispatcher {
 public:
  CascadeDispatcher(std::vector<Tier> tiers, const std::string& route, Metrics& metrics)
      : tiers_(std::move(tiers)) {
    // Every escalation a request can make, from a model of one tier to one of a later tier.
    for (std::size_t i = 0; i < tiers_.size(); ++i)
      for (std::size_t j = i + 1; j < tiers_.size(); ++j)
        for (const Target* from : tiers_[i].targets)
          for (const Target* to : tiers_[j].targets)
            escalations_[{from->model, to->model}] =
                &metrics.escalations(route, from->model->name, to->model->name);
  }

  Task<Result<void>> dispatch(RouteContext& ctx, ResponseWriter& out) const override {
    Error last = make_error(Reason::upstream_saturated, "route has no candidates");
    std::string escalated;             // "a: refusal (matched); b: error"
    const ModelConfig* from = nullptr;  // the model the last escalation left
    std::string_view reason;
    std::size_t ran = 0;
    std::vector<Kept> kept;  // the answers of the tiers that escalated
    // Each tier's models that the stages left, and the last tier that has any: when the stages
    // left no model of the tiers after it, its answer is the last word, as the last tier's is.
    std::vector<std::vector<const Target*>> left_by_tier(tiers_.size());
    std::size_t final_tier = 0;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      for (const Target* t : ctx.candidates)
        if (std::any_of(tiers_[i].targets.begin(), tiers_[i].targets.end(),
                        [&](const Target* x) { return same_target(*x, *t); }))
          left_by_tier[i].push_back(t);
      if (!left_by_tier[i].empty()) final_tier = i;
    }
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
      const Tier& tier = tiers_[i];
      const std::vector<const Target*>& available = left_by_tier[i];
      if (available.empty()) continue;
      ++ran;
      auto escalate_to = [&](const Target& to) {
        if (!from) return;
        if (auto it = escalations_.find({from, to.model}); it != escalations_.end())
          it->second->inc(std::hash<std::string_view>{}(reason), reason);
        from = nullptr;
      };
      out.set_header("x-switchyard-tiers", std::to_string(ran));
      if (!escalated.empty()) out.set_header("x-switchyard-escalations", escalated);

      if (!tier.gates) {  // the last tier: the first answer goes to the client
        for (const Target* t : available) {
          escalate_to(*t);
          auto a = co_await answer_with(ctx, *t, out);
          if (a.done) co_return std::move(a.result);
          if (!is_retryable(*a.call.error)) co_return *a.call.error;
          last = std::move(*a.call.error);
        }
        break;
      }

      // Ask: each available model once, all at once, for agreement; else one at a time until
      // one answers. An earlier tier's answer is taken instead of a call, when there is one.
      const GateSet& gates = gates_for(ctx, i);
      const Gates& g = gates.gates;
      const CallOptions ask{.logprobs = g.needs_logprobs, .samples = g.samples};
      std::vector<CallResult> results;
      if (g.agreement) {
        std::vector<const Target*> one_each, to_call;
        for (const Target* t : available)
          if (std::none_of(one_each.begin(), one_each.end(),
                           [&](const Target* o) { return o->model == t->model; }))
            one_each.push_back(t);
        std::vector<std::optional<CallResult>> reused;
        for (const Target* t : one_each) {
          reused.push_back(take_kept(kept, *t, ask));
          if (!reused.back()) to_call.push_back(t);
        }
        if (!to_call.empty()) escalate_to(*to_call.front());
        auto fresh = co_await call_all(ctx, std::move(to_call), ask);
        for (std::size_t k = 0, f = 0; k < one_each.size(); ++k)
          results.push_back(reused[k] ? std::move(*reused[k]) : std::move(fresh[f++]));
      } else {
        for (const Target* t : available) {
          if (auto reused = take_kept(kept, *t, ask)) {
            results.push_back(std::move(*reused));
          } else {
            escalate_to(*t);
            results.push_back(co_await call(ctx, *t, ask));
          }
          if (results.back().ok()) break;
        }
      }
      if (cancelled(co_await boost::asio::this_coro::cancellation_state))
        co_return make_error(Reason::cancelled, "client went away");
      // The tier's answers: one per call that answered, or each of its choices when the gate
      // asked for several.
      std::vector<Said> said;
      for (std::size_t k = 0; k < results.size(); ++k) {
        if (!results[k].ok()) {
          last = *results[k].error;
          continue;
        }
        if (results[k].choices_added == 0) {
          said.push_back({k, 0, read_answer(results[k])});
          continue;
        }
        auto choices = read_answers(results[k]);
        // Choice 0 stands for the call even unreadable, as an unsampled call's answer does; a
        // later choice missing from the answer is no answer at all.
        for (std::size_t c = 0; c < choices.size(); ++c)
          if (c == 0 || choices[c].readable)
            said.push_back({k, static_cast<std::uint32_t>(c), std::move(choices[c])});
      }
      // An upstream's 4xx is no answer to judge: the request itself is at fault, and every tier
      // would say so. It goes back as single would send it, unless the gateway's own additions
      // (logprobs or choices, which some models refuse) may be what it objected to: then it
      // escalates.
      if (!said.empty()) {
        const CallResult& first = results[said.front().call];
        if (first.reply.status >= 300 && !first.logprobs_added && first.choices_added == 0)
          co_return co_await commit(ctx, first, out);
      }
      std::size_t chosen = 0;  // in said
      std::string why;
      std::string_view gate;
      double agreement = 1;  // the share of the tier's answers that agree with the chosen one
      if (said.empty()) {
        gate = "error";
        why = reason_name(last.reason);
      } else {
        if (g.agreement) {
          // The largest group of equal answers; the earliest among groups of the same size.
          std::vector<std::string> keys;
          keys.reserve(said.size());
          for (const Said& a : said) keys.push_back(agreement_key(a.answer));
          std::size_t best = 0;
          for (std::size_t k = 0; k < said.size(); ++k) {
            const auto n = static_cast<std::size_t>(std::count(keys.begin(), keys.end(), keys[k]));
            if (n > best) best = n, chosen = k;
          }
          // Of the answers asked for, not of those given: one answer agrees with nothing. A call
          // asked for its choices (one, when the client named its own n); a model of the tier
          // that was not called, for `samples`.
          std::size_t asked = 0;
          for (const CallResult& r : results) asked += std::max<std::uint32_t>(1, r.choices_added);
          if (tier.models > results.size()) asked += (tier.models - results.size()) * g.samples;
          asked = std::max(asked, said.size());
          agreement = static_cast<double>(best) / static_cast<double>(asked);
          const bool agreed =
              static_cast<double>(best) + 1e-9 >= *g.agreement * static_cast<double>(asked);
          if (!agreed) {
            gate = "agreement";
            why = std::to_string(best) + " of " + std::to_string(asked) + " agree";
          }
          count(*gates.agreed, why);
        }
        if (gate.empty()) {
          const Answer& answer = said[chosen].answer;
          const double predicted =
              predicted_quality(ctx.decision, results[said[chosen].call].target->model);
          const GateInput in(ctx.request, answer, agreement, predicted);
          auto findings = g.judge_each(in);
          for (std::size_t k = 0; k < findings.size(); ++k)
            count(*gates.verdicts[k], findings[k].why);
          // The gates that call out, cheapest first, each only while it can still decide and the
          // client is still there; never on the last word, which no verdict can change. (Not
          // co_await inside a braced initializer: GCC 12 miscompiles it.)
          const bool decides = i != final_tier;
          if (g.code && decides && g.undecided(findings)) {
            std::string why = co_await check_code(*g.code, answer.text);
            if (cancelled(co_await boost::asio::this_coro::cancellation_state))
              co_return make_error(Reason::cancelled, "client went away");
            count(*gates.coded, why);
            findings.push_back({"code", std::move(why)});
          }
          if (g.similar && decides && g.undecided(findings)) {
            std::string why = co_await check_similar(ctx, *g.similar, answer);
            if (cancelled(co_await boost::asio::this_coro::cancellation_state))
              co_return make_error(Reason::cancelled, "client went away");
            count(*gates.compared, why);
            findings.push_back({"similar", std::move(why)});
          }
          if (g.judge && decides && g.undecided(findings)) {
            std::string why = co_await judge_answer(ctx, *g.judge, answer);
            if (cancelled(co_await boost::asio::this_coro::cancellation_state))
              co_return make_error(Reason::cancelled, "client went away");
            count(*gates.judged, why);
            findings.push_back({"judge", std::move(why)});
          }
          if (auto v = g.verdict(std::move(findings)); !v.gate.empty()) {
            gate = v.gate;
            why = std::move(v.why);
          }
        }
      }
      // The last word is an answer, not a 4xx the gateway's own additions may have caused.
      if (gate.empty() ||
          (i == final_tier && !said.empty() && results[said[chosen].call].reply.status < 300)) {
        CallResult& answered = results[said[chosen].call];
        answered.keep_choice = said[chosen].choice;
        co_return co_await commit(ctx, answered, out);
      }
      const Target* left = said.empty() ? available.front() : results[said[chosen].call].target;
      escalated += (escalated.empty() ? "" : "; ") + left->model->name + ": " +
                   std::string(gate) + " (" + header_safe(why) + ")";
      from = left->model;
      reason = gate;
      // Not a 4xx: one to what this tier added (logprobs, choices) may not recur without them.
      for (CallResult& r : results)
        if (r.ok() && r.reply.status < 300) kept.push_back({std::move(r), ask});
    }
    co_return ctx.attempts.empty() ? Result<void>(last)
                                   : Result<void>(all_attempts_failed(ctx, std::move(last)));
  }

 private:
  // The gates tier `i` judges this request's answers by.
  const GateSet& gates_for(const RouteContext& ctx, std::size_t i) const {
    const Tier& tier = tiers_[i];
    if (auto it = tier.by_caller.find(ctx.caller.tier); it != tier.by_caller.end())
      return it->second;
    if (tier.under_load && next_busy(i)) return *tier.under_load;
    return *tier.gates;
  }

  // Whether every upstream of the next tier has load_at of its max_concurrent calls in flight.
  bool next_busy(std::size_t i) const {
    const auto& next = tiers_[i + 1].targets;
    return std::all_of(next.begin(), next.end(), [&](const Target* t) {
      return static_cast<double>(t->state->upstream.in_flight.load(std::memory_order_relaxed)) >=
             tiers_[i].load_at * t->upstream_config->max_concurrent;
    });
  }

  std::vector<Tier> tiers_;
  std::map<std::pair<const ModelConfig*, const ModelConfig*>, LazyCounters*> escalations_;
};

}  // namespace

Built<Dispatcher> make_cascade_dispatcher(const StageConfig& sc, BuildContext& ctx) {
  std::vector<Tier> tiers;
  std::string error;
  bool ok = read_guarded(error, [&] {
    Map m(*sc.node, sc.path);
    std::string type;
    m.req("type", type);
    auto list = m.get("tiers");
    if (!list || !list.IsSequence() || list.size() < 2)
      fail(m.at("tiers"), "expected a list of at least two tiers");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string path = m.at("tiers") + "[" + std::to_string(i) + "]";
      Map tm(list[i], path);
      std::vector<std::string> models;
      tm.req("models", models);
      if (models.empty()) fail(tm.at("models"), "must name at least one model");
      Tier tier;
      tier.models = models.size();
      for (std::size_t k = 0; k < models.size(); ++k) {
        auto targets = ctx.targets_for(models[k]);
        if (targets.empty())
          fail(tm.at("models") + "[" + std::to_string(k) + "]",
               "unknown model \"" + models[k] + "\" (known: " + std::string(ctx.model_list()) +
                   ")");
        tier.targets.insert(tier.targets.end(), targets.begin(), targets.end());
      }
      const bool last = i + 1 == list.size();
      if (auto g = tm.get("gates"); g && !g.IsNull()) {
        if (last)
          fail(tm.at("gates"),
               "the last tier's answer is returned whatever it says: it takes no gates");
        tier.gates = read_gate_set(g, tm.at("gates"), ctx);
      } else if (!last) {
        fail(tm.at("gates"), "is required on every tier but the last: what makes it escalate?");
      }
      if (auto b = tm.get("gates_by_caller"); b && !b.IsNull()) {
        if (last) fail(tm.at("gates_by_caller"), "the last tier takes no gates");
        if (!b.IsMap()) fail(tm.at("gates_by_caller"), "expected a mapping of caller tiers");
        for (const auto& kv : b) {
          const auto name = kv.first.as<std::string>();
          tier.by_caller.emplace(
              name, read_gate_set(kv.second, tm.at("gates_by_caller") + "." + name, ctx));
        }
      }
      if (auto u = tm.get("under_load"); u && !u.IsNull()) {
        if (last) fail(tm.at("under_load"), "the last tier takes no gates");
        Map um(u, tm.at("under_load"));
        um.req("at", tier.load_at);
        if (!(tier.load_at > 0 && tier.load_at <= 1))
          fail(um.at("at"), "must be a share of max_concurrent, above 0 and at most 1");
        auto g = um.get("gates");
        if (!g || g.IsNull()) fail(um.at("gates"), "is required: what a busy next tier accepts");
        tier.under_load = read_gate_set(g, um.at("gates"), ctx);
        um.finish();
      }
      tm.finish();
      tiers.push_back(std::move(tier));
    }
    m.finish();
  });
  if (!ok) return config_error(std::move(error));
  return std::make_unique<const CascadeDispatcher>(std::move(tiers), std::string(ctx.route()),
                                                   ctx.metrics());
}

}  // namespace switchyard
