// What the gateway learns from feedback on its answers (POST /v1/feedback): the quality each
// model shows per label, and the requests still open for feedback. Owned by the gateway and
// shared by every snapshot built on it, so a reload keeps both.
#pragma once

#include "core/jsonl_log.hpp"
#include "router/ticket_book.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/config.hpp"
#include "switchyard/live.hpp"
#include "switchyard/router.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace switchyard {

// Feedback per (model, label), lock-free: the sum of the scores (each 0..1) and their number,
// each weighted by 0.5^(age / half-life), so that a model whose quality drifts is followed. Read
// on every request by the scorer (as its priors, updated) and the bandit (as its posteriors);
// written once per feedback. A fixed open-addressed table of 4096 slots, never shrunk; pairs
// past that many are not learned (there are as many as models × classifier labels in use).
class QualityBook {
 public:
  struct Evidence {
    double score = 0;   // the decayed sum of scores
    double weight = 0;  // the decayed number of feedbacks

    // The mean score, with `prior` counted as `strength` feedbacks.
    double mean(double prior, double strength) const {
      return (score + prior * strength) / (weight + strength);
    }
  };

  void set_half_life(std::chrono::nanoseconds half_life) noexcept {
    half_life_ns_.store(static_cast<double>(half_life.count()), std::memory_order_relaxed);
  }
  void record(std::string_view model, std::string_view label, double score,
              SteadyTime now) noexcept;
  Evidence read(std::string_view model, std::string_view label, SteadyTime now) const noexcept;

 private:
  static constexpr std::size_t kSlots = 4096;
  struct Slot {
    std::atomic<std::uint64_t> key{0};  // 0: free
    std::atomic<double> score{0}, weight{0};
    std::atomic<SteadyTime::rep> at{0};  // the time score and weight are decayed to
  };
  // The slot of `key`, claimed if `claim` and it has none; null if there is none (or no room).
  Slot* find(std::uint64_t key, bool claim) const noexcept;
  double decay(SteadyTime::rep from, SteadyTime now) const noexcept;

  std::atomic<double> half_life_ns_{86'400e9};
  mutable Slot slots_[kSlots];
};

// The label a request's feedback is learned under: its classifier's first label, else "" (the
// model's quality on any prompt). The scorer and the bandit read the same.
std::string_view feedback_label(const Decision& decision);

// The gateway's learning state. configure() and decision_log() run on the control thread while
// a snapshot is built; the rest on any worker.
class Learning {
 public:
  QualityBook quality;

  void configure(const FeedbackConfig& config);
  // Opens the request `ctx` for feedback on the answer of ctx.chosen (which must be set) until
  // feedback takes it or feedback.window_s passes. Called as the answer is committed, before
  // the client can have it, so feedback sent the moment it arrives finds the request.
  void expect_feedback(const RouteContext& ctx);
  // Closes `request_id` for feedback and returns its ticket, if it is open and the answer was
  // for `client`: of two feedbacks at once, one gets it.
  std::optional<FeedbackTicket> take_ticket(std::string_view request_id, std::string_view client,
                                            SteadyTime now) {
    return pending_.take(request_id, client, now);
  }

  // The log for `config`: the one already open if its settings are the same, else a new one
  // (the old one is closed once no snapshot holds it). Null when no path is configured.
  Result<std::shared_ptr<JsonlLog>> decision_log(const DecisionLogConfig& config);

 private:
  TicketBook pending_;
  std::mutex mutex_;  // the log, on the control thread
  DecisionLogConfig log_config_;
  std::shared_ptr<JsonlLog> log_;
};

}  // namespace switchyard
