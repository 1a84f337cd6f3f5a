#include "router/feedback.hpp"

#include "core/hash.hpp"

#include <cmath>

namespace switchyard {

namespace {

std::uint64_t pair_key(std::string_view model, std::string_view label) {
  // 0xff is no byte of UTF-8 text.
  const std::uint64_t h = fnv1a({model, label}, 0xff);
  return h == 0 ? 1 : h;
}

void add(std::atomic<double>& a, double v) noexcept {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

void scale(std::atomic<double>& a, double f) noexcept {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old * f, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::string_view feedback_label(const Decision& decision) {
  return decision.labels.empty() ? std::string_view() : decision.labels.front().name;
}

QualityBook::Slot* QualityBook::find(std::uint64_t key, bool claim) const noexcept {
  for (std::size_t i = 0; i < kSlots; ++i) {
    Slot& s = slots_[(key + i) % kSlots];
    std::uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) return &s;
    if (k != 0) continue;
    if (!claim) return nullptr;
    if (s.key.compare_exchange_strong(k, key, std::memory_order_acq_rel) || k == key) return &s;
  }
  return nullptr;
}

double QualityBook::decay(SteadyTime::rep from, SteadyTime now) const noexcept {
  const double age = static_cast<double>(now.time_since_epoch().count() - from);
  if (from == 0 || age <= 0) return 1;
  return std::exp2(-age / half_life_ns_.load(std::memory_order_relaxed));
}

void QualityBook::record(std::string_view model, std::string_view label, double score,
                         SteadyTime now) noexcept {
  Slot* s = find(pair_key(model, label), true);
  if (!s) return;
  // Decay the sums to `now` once: whoever moves `at` forward scales them.
  SteadyTime::rep at = s->at.load(std::memory_order_relaxed);
  const SteadyTime::rep t = now.time_since_epoch().count();
  while (at < t) {
    if (s->at.compare_exchange_weak(at, t, std::memory_order_relaxed)) {
      const double f = decay(at, now);
      scale(s->score, f);
      scale(s->weight, f);
      break;
    }
  }
  add(s->score, score);
  add(s->weight, 1);
}

QualityBook::Evidence QualityBook::read(std::string_view model, std::string_view label,
                                        SteadyTime now) const noexcept {
  const Slot* s = find(pair_key(model, label), false);
  if (!s) return {};
  const double f = decay(s->at.load(std::memory_order_relaxed), now);
  return {s->score.load(std::memory_order_relaxed) * f,
          s->weight.load(std::memory_order_relaxed) * f};
}

void Learning::configure(const FeedbackConfig& config) {
  quality.set_half_life(std::chrono::seconds(config.half_life_s));
  pending_.configure(config.max_pending, std::chrono::seconds(config.window_s));
}

void Learning::expect_feedback(const RouteContext& ctx) {
  if (ctx.request.request_id.empty()) return;  // not from a client (eval, tests)
  // Dropped if max_pending is 0.
  pending_.put(ctx.request.request_id, ctx.chosen->state, ctx.caller.name, ctx.route,
               feedback_label(ctx.decision), ctx.clock.now());
}

Result<std::shared_ptr<JsonlLog>> Learning::decision_log(const DecisionLogConfig& config) {
  std::lock_guard lock(mutex_);
  if (config.path.empty()) return std::shared_ptr<JsonlLog>();
  if (log_ && config == log_config_) return log_;
  log_.reset();  // the snapshots that hold it keep it open until they go
  auto opened = JsonlLog::open(config.path, config.max_bytes, config.max_files);
  if (!opened) return opened.error();
  log_ = std::move(*opened);
  log_config_ = config;
  return log_;
}

}  // namespace switchyard
