#include "router/registry.hpp"

#include "metrics/metrics.hpp"
#include "switchyard/router.hpp"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <cmath>

namespace switchyard {

namespace {

// The breaker's averages, which every worker moves at once.
void blend(std::atomic<double>& average, double sample, bool first) noexcept {
  double old = average.load(std::memory_order_relaxed);
  double next;
  do {
    next = first ? sample : old + TargetStats::kWeight * (sample - old);
  } while (!average.compare_exchange_weak(old, next, std::memory_order_relaxed));
}

// Moves `average` as `n` samples of mean `mean` one at a time would, after it has faded by
// `kept` (what is left of it after a quiet spell; nothing before the first calls). Only the
// merge under way writes it.
void fold(std::atomic<double>& average, double mean, std::uint64_t n, double kept) noexcept {
  const double old = average.load(std::memory_order_relaxed);
  const double w = 1.0 - kept * std::pow(1.0 - TargetStats::kWeight, static_cast<double>(n));
  average.store(old + w * (mean - old), std::memory_order_relaxed);
}

std::uint64_t take(std::atomic<std::uint64_t>& counter) noexcept {
  return counter.exchange(0, std::memory_order_relaxed);
}

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
  counter.fetch_add(n, std::memory_order_relaxed);
}

// The calling thread's shard: threads take them in turn, so the workers (started first and
// fewer than kShards on most hosts) each have their own.
std::size_t shard_index() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine =
      next.fetch_add(1, std::memory_order_relaxed) % TargetStats::kShards;
  return mine;
}

using Rep = SteadyTime::rep;

std::chrono::nanoseconds ms(std::uint32_t v) { return std::chrono::milliseconds(v); }

constexpr Rep kWindowNs = std::chrono::nanoseconds(DurationSketch::kWindow).count();

}  // namespace

Breaker::State Breaker::state(SteadyTime now) const noexcept {
  const Rep until = open_until_.load(std::memory_order_acquire);
  if (until == 0) return State::closed;
  return now.time_since_epoch().count() < until ? State::open : State::half_open;
}

bool Breaker::admit(SteadyTime now, const BreakerConfig& c) noexcept {
  switch (state(now)) {
    case State::closed: return true;
    case State::open: return false;
    case State::half_open: break;
  }
  const Rep t = now.time_since_epoch().count();
  Rep probe = probe_until_.load(std::memory_order_relaxed);
  return probe <= t && probe_until_.compare_exchange_strong(
                           probe, (now + ms(c.open_ms)).time_since_epoch().count(),
                           std::memory_order_relaxed);
}

void Breaker::record(const CallOutcome& o, const BreakerConfig& c) noexcept {
  if (!o.ok && o.reason == Reason::cancelled) {
    probe_until_.store(0, std::memory_order_relaxed);
    return;
  }
  // Turned away by the gateway's own max_concurrent: the next candidate was tried at once, and
  // nothing was learnt about the upstream's health.
  if (!o.ok && o.reason == Reason::upstream_saturated) return;
  const Rep until = open_until_.load(std::memory_order_acquire);
  const Rep now = o.finished.time_since_epoch().count();
  if (until != 0 && now < until) return;  // open: a call from before it opened
  const bool slow = c.latency_ceiling_ms && o.latency > ms(c.latency_ceiling_ms);
  if (until != 0) {  // half-open: this outcome is the probe's answer
    if (!o.ok || slow) open(until, o.finished, ms(o.retry_after_ms), c);
    else if (probes_ok_.fetch_add(1, std::memory_order_relaxed) + 1 >= c.probes_to_close)
      close(until, o.finished);
    else
      probe_until_.store(0, std::memory_order_relaxed);  // the next request probes
    return;
  }
  const std::uint32_t calls = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
  blend(failure_share_, o.ok ? 0.0 : 1.0, calls == 1);
  if (o.ok) {
    consecutive_.store(0, std::memory_order_relaxed);
    blend(latency_ms_, std::chrono::duration<double, std::milli>(o.latency).count(), calls == 1);
  }
  const std::uint32_t in_a_row =
      o.ok ? 0 : consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  // The averages are judged on a call that is itself bad, so that a model that recovered is
  // not opened again by the averages of its bad spell while its good answers bring them down.
  const bool enough = calls >= c.min_calls;
  const bool failing =
      !o.ok && enough && failure_share_.load(std::memory_order_relaxed) >= c.error_ratio;
  const bool too_slow =
      slow && enough && latency_ms_.load(std::memory_order_relaxed) > c.latency_ceiling_ms;
  if ((!o.ok && o.retry_after_ms) || in_a_row >= c.consecutive_failures || failing || too_slow)
    open(0, o.finished, o.ok ? std::chrono::nanoseconds(0) : ms(o.retry_after_ms), c);
}

void Breaker::open(Rep expected, SteadyTime now, std::chrono::nanoseconds retry_after,
                   const BreakerConfig& c) noexcept {
  // Opening again from half-open (a failed probe) or soon after a close (a relapse): one more
  // doubling.
  const Rep t = now.time_since_epoch().count();
  const Rep closed_at = closed_at_.load(std::memory_order_relaxed);
  const bool relapse = closed_at != 0 && t - closed_at < ms(c.max_open_ms).count();
  const std::uint32_t reopens =
      expected == 0 && !relapse
          ? 0
          : std::min<std::uint32_t>(reopens_.load(std::memory_order_relaxed) + 1, 16);
  // An upstream's retry-after counts too, up to max_open_ms: a far-off date (a skewed clock)
  // must not take the model out for days.
  auto d = retry_after.count() > 0
               ? std::min<std::chrono::nanoseconds>(retry_after, ms(c.max_open_ms))
               : std::min(ms(c.open_ms) * (std::int64_t{1} << reopens), ms(c.max_open_ms));
  // Jitter from the clock's low bits: different on every replica, no shared random state.
  d += d * ((t >> 10) % 200) / 1000;
  const Rep until = (now + d).time_since_epoch().count();
  if (!open_until_.compare_exchange_strong(expected, until, std::memory_order_acq_rel)) return;
  reopens_.store(reopens, std::memory_order_relaxed);
  probes_ok_.store(0, std::memory_order_relaxed);
  probe_until_.store(0, std::memory_order_relaxed);
  opened_.fetch_add(1, std::memory_order_relaxed);
  own_until_.store(until, std::memory_order_relaxed);
}

void Breaker::adopt(SteadyTime until) noexcept {
  const Rep want = until.time_since_epoch().count();
  Rep current = open_until_.load(std::memory_order_acquire);
  while (current < want) {
    if (!open_until_.compare_exchange_weak(current, want, std::memory_order_acq_rel)) continue;
    // A probe in flight now reports "from before it opened", and is not waited for.
    probes_ok_.store(0, std::memory_order_relaxed);
    probe_until_.store(0, std::memory_order_relaxed);
    return;
  }
}

void Breaker::close(Rep expected, SteadyTime now) noexcept {
  // The averages carry on: a model that still fails half its calls opens again at its next
  // failure, one that recovered only adds answers to them. The backoff carries on too, for a
  // relapse (open()).
  consecutive_.store(0, std::memory_order_relaxed);
  closed_at_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  probes_ok_.store(0, std::memory_order_relaxed);
  probe_until_.store(0, std::memory_order_relaxed);
  open_until_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

std::size_t DurationSketch::bucket_of(std::chrono::nanoseconds d) noexcept {
  const double millis = std::chrono::duration<double, std::milli>(d).count();
  if (!(millis > 1)) return 0;
  const auto i = static_cast<std::size_t>(std::ceil(4 * std::log2(millis))) - 1;
  return std::min(i, kBuckets - 1);
}

void DurationSketch::add(std::size_t bucket, std::uint32_t count, SteadyTime now) noexcept {
  const Rep t = now.time_since_epoch().count();
  Rep start = window_start_.load(std::memory_order_acquire);
  if (t - start >= kWindowNs &&
      window_start_.compare_exchange_strong(start, t, std::memory_order_acq_rel)) {
    // This caller opens the next window: the one before the previous is forgotten, and after a
    // silence of two windows, the previous one too.
    const std::uint32_t current = current_.load(std::memory_order_relaxed), next = 1 - current;
    for (auto& c : counts_[next]) c.store(0, std::memory_order_relaxed);
    if (t - start >= 2 * kWindowNs)
      for (auto& c : counts_[current]) c.store(0, std::memory_order_relaxed);
    current_.store(next, std::memory_order_release);
  }
  counts_[current_.load(std::memory_order_acquire)][bucket].fetch_add(count,
                                                                     std::memory_order_relaxed);
}

std::chrono::nanoseconds DurationSketch::quantile(double q, SteadyTime now) const noexcept {
  // Nothing recorded for two windows: what there is is too old to say anything.
  const Rep start = window_start_.load(std::memory_order_acquire);
  if (now.time_since_epoch().count() - start >= 2 * kWindowNs)
    return std::chrono::nanoseconds(0);
  std::uint64_t counts[kBuckets], total = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    counts[i] = std::uint64_t{counts_[0][i].load(std::memory_order_relaxed)} +
                counts_[1][i].load(std::memory_order_relaxed);
    total += counts[i];
  }
  if (total == 0) return std::chrono::nanoseconds(0);
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  std::size_t i = 0;
  for (; i + 1 < kBuckets; ++i)
    if ((seen += counts[i]) >= rank) break;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double, std::milli>(std::exp2((static_cast<double>(i) + 1) / 4)));
}

void TargetStats::record(const CallOutcome& o) noexcept {
  Shard& s = shards_[shard_index()];
  if (!o.ok && o.reason == Reason::cancelled) {
    // A lower bound: below the median of answered calls it says little, above it it is the
    // tail. With no answers to compare with, nothing.
    const auto cut = [&](std::atomic<std::uint32_t>* buckets, std::chrono::nanoseconds d,
                         const DurationSketch& sketch) {
      const auto median = sketch.quantile(0.5, o.finished);
      if (median.count() > 0 && d > median)
        buckets[DurationSketch::bucket_of(d)].fetch_add(1, std::memory_order_relaxed);
    };
    cut(s.latency_buckets, o.latency, latency_sketch_);
    if (o.time_to_first_token.count() >= 0)
      s.ttft_buckets[DurationSketch::bucket_of(o.time_to_first_token)].fetch_add(
          1, std::memory_order_relaxed);
    else
      cut(s.ttft_buckets, o.latency, ttft_sketch_);
    merge_if_due(o.finished);
    return;
  }
  add(s.calls, 1);
  if (!o.ok) {
    add(s.failures, 1);
    if (o.reason == Reason::timeout_connect || o.reason == Reason::timeout_first_token ||
        o.reason == Reason::timeout_total || o.reason == Reason::timeout_idle_stream)
      add(s.timeouts, 1);
    last_failure_.store(o.finished.time_since_epoch().count(), std::memory_order_relaxed);
  } else {
    const auto ttft = std::max(o.time_to_first_token, std::chrono::nanoseconds(0));
    add(s.answers, 1);
    add(s.latency_ns, static_cast<std::uint64_t>(std::max<Rep>(o.latency.count(), 0)));
    add(s.ttft_ns, static_cast<std::uint64_t>(ttft.count()));
    s.latency_buckets[DurationSketch::bucket_of(o.latency)].fetch_add(1, std::memory_order_relaxed);
    if (o.time_to_first_token.count() >= 0)
      s.ttft_buckets[DurationSketch::bucket_of(ttft)].fetch_add(1, std::memory_order_relaxed);
    if (const auto generating = o.latency - ttft; o.output_tokens > 0 && generating.count() > 0) {
      add(s.generated, 1);
      add(s.output_tokens, o.output_tokens);
      add(s.generating_ns, static_cast<std::uint64_t>(generating.count()));
    }
  }
  merge_if_due(o.finished);
}

void TargetStats::merge_if_due(SteadyTime now) noexcept {
  const Rep t = now.time_since_epoch().count();
  Rep due = next_merge_.load(std::memory_order_relaxed);
  if (t >= due && next_merge_.compare_exchange_strong(
                      due, t + std::chrono::nanoseconds(kMergeEvery).count(),
                      std::memory_order_relaxed))
    merge(now);
}

void TargetStats::merge(SteadyTime now) noexcept {
  if (merging_.test_and_set(std::memory_order_acquire)) return;
  std::uint64_t calls = 0, failures = 0, timeouts = 0, answers = 0, latency_ns = 0, ttft_ns = 0,
                generated = 0, output_tokens = 0, generating_ns = 0;
  for (Shard& s : shards_) {
    calls += take(s.calls);
    failures += take(s.failures);
    timeouts += take(s.timeouts);
    answers += take(s.answers);
    latency_ns += take(s.latency_ns);
    ttft_ns += take(s.ttft_ns);
    generated += take(s.generated);
    output_tokens += take(s.output_tokens);
    generating_ns += take(s.generating_ns);
    for (std::size_t i = 0; i < DurationSketch::kBuckets; ++i) {
      if (const auto n = s.latency_buckets[i].exchange(0, std::memory_order_relaxed))
        latency_sketch_.add(i, n, now);
      if (const auto n = s.ttft_buckets[i].exchange(0, std::memory_order_relaxed))
        ttft_sketch_.add(i, n, now);
    }
  }
  // A call racing this merge may show in one count here and in another at the next merge.
  auto share = [](std::uint64_t part, std::uint64_t whole) {
    return std::min(1.0, static_cast<double>(part) / static_cast<double>(whole));
  };
  auto mean = [](std::uint64_t sum, std::uint64_t n) {
    return static_cast<double>(sum) / static_cast<double>(n);
  };
  // What is left of averages last moved at `at` (0 if never), which now move.
  auto kept = [&](std::atomic<Rep>& at, const std::atomic<std::uint64_t>& count) {
    const Rep before = at.exchange(now.time_since_epoch().count(), std::memory_order_relaxed);
    if (count.load(std::memory_order_relaxed) == 0) return 0.0;
    const std::chrono::duration<double> idle = now - SteadyTime(SteadyTime::duration(before));
    return std::exp(-std::max(idle.count(), 0.0) / std::chrono::duration<double>(kFade).count());
  };
  if (calls > 0) {
    const double k = kept(calls_at_, calls_);
    fold(failure_rate_, share(failures, calls), calls, k);
    fold(timeout_rate_, share(timeouts, calls), calls, k);
    add(calls_, calls);
  }
  add(failures_, failures);
  if (answers > 0) {
    const double k = kept(answers_at_, answers_);
    fold(latency_ns_, mean(latency_ns, answers), answers, k);
    fold(ttft_ns_, mean(ttft_ns, answers), answers, k);
    add(answers_, answers);
  }
  if (generated > 0 && generating_ns > 0) {
    fold(tokens_per_s_, 1e9 * mean(output_tokens, generating_ns), generated,
         kept(generated_at_, generated_));
    add(generated_, generated);
  }
  merging_.clear(std::memory_order_release);
}

TargetState& TargetRegistry::target(std::string_view upstream, std::string_view model) {
  std::lock_guard lock(mutex_);
  auto u = upstreams_.find(upstream);
  if (u == upstreams_.end())
    u = upstreams_.emplace(std::string(upstream), std::make_unique<UpstreamState>(std::string(upstream)))
            .first;
  auto& t = targets_[{std::string(upstream), std::string(model)}];
  if (!t) t = std::make_unique<TargetState>(*u->second, std::string(model));
  return *t;
}

std::vector<prometheus::MetricFamily> TargetRegistry::Collect() const {
  using prometheus::MetricType;
  constexpr auto family = make_family;
  auto state = family("switchyard_breaker_state",
                      "Circuit breaker of each upstream and model: 0 closed, 1 open, 2 half-open",
                      MetricType::Gauge);
  auto opened = family("switchyard_breaker_opened_total",
                       "Times the circuit breaker of each upstream and model opened",
                       MetricType::Counter);
  auto latency = family("switchyard_target_latency_seconds",
                        "Weighted average duration of answered calls per upstream and model",
                        MetricType::Gauge);
  auto p95 = family("switchyard_target_latency_p95_seconds",
                    "95th percentile duration of the answered calls of the last 10 to 20 s",
                    MetricType::Gauge);
  auto failures = family("switchyard_target_failure_ratio",
                         "Weighted share of failed calls per upstream and model",
                         MetricType::Gauge);
  auto timeouts = family("switchyard_target_timeout_ratio",
                         "Weighted share of calls that timed out per upstream and model",
                         MetricType::Gauge);
  auto ttft = family("switchyard_target_time_to_first_token_seconds",
                     "Weighted average time to the first token of answered calls per upstream and "
                     "model",
                     MetricType::Gauge);
  auto ttft_p95 = family("switchyard_target_time_to_first_token_p95_seconds",
                         "95th percentile time to the first token of the answered calls of the "
                         "last 10 to 20 s",
                         MetricType::Gauge);
  auto target_in_flight = family("switchyard_target_in_flight",
                                 "Calls in flight per upstream and model", MetricType::Gauge);
  auto speed = family("switchyard_target_output_tokens_per_second",
                      "Weighted average output tokens per second after the first token",
                      MetricType::Gauge);
  auto in_flight = family("switchyard_upstream_in_flight", "Calls in flight per upstream",
                          MetricType::Gauge);
  const SteadyTime now = system_clock().now();
  std::lock_guard lock(mutex_);
  for (const auto& entry : targets_) {
    const std::string& upstream = entry.first.first;  // clang 14 lambdas cannot capture bindings
    const std::string& model = entry.first.second;
    const TargetState* t = entry.second.get();
    auto with = [&](prometheus::MetricFamily& f, double v) {
      add_sample(f, {{"model", model}, {"upstream", upstream}}, v);
    };
    entry.second->stats.merge(now);  // a scrape sees the last second's calls too
    with(state, static_cast<double>(t->breaker.state(now)));
    with(opened, static_cast<double>(t->breaker.times_opened()));
    with(latency, std::chrono::duration<double>(t->stats.latency()).count());
    with(p95, std::chrono::duration<double>(t->stats.latency_p95(now)).count());
    with(ttft, std::chrono::duration<double>(t->stats.time_to_first_token()).count());
    with(ttft_p95, std::chrono::duration<double>(t->stats.time_to_first_token_p95(now)).count());
    with(target_in_flight, t->in_flight.load(std::memory_order_relaxed));
    with(failures, t->stats.failure_rate());
    with(timeouts, t->stats.timeout_rate());
    with(speed, t->stats.output_tokens_per_second());
  }
  for (const auto& [name, u] : upstreams_)
    add_sample(in_flight, {{"upstream", name}}, u->in_flight.load(std::memory_order_relaxed));
  return {std::move(state),    std::move(opened),   std::move(latency),
          std::move(p95),      std::move(ttft),     std::move(ttft_p95),
          std::move(failures), std::move(timeouts), std::move(speed),
          std::move(target_in_flight), std::move(in_flight)};
}

void TargetRegistry::report(const CallOutcome& outcome) noexcept {
  outcome.target->state->stats.record(outcome);
  if (const auto& c = outcome.target->upstream_config->breaker; c.enabled)
    outcome.target->state->breaker.record(outcome, c);
  for (auto* sink : sinks_) sink->report(outcome);
}

}  // namespace switchyard
