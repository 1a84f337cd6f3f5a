// The figures an offline evaluation reports about a router replayed over recorded per-prompt
// outcomes: RouterBench's quality–cost hull and AIQ, RouteLLM's PGR / CPT / APGR, and the two
// pieces a bootstrap confidence interval is built from. Pure functions of their arguments (the
// bootstrap's random engine aside): no I/O, no exceptions but std::bad_alloc, no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace switchyard::offline {

// One operating point: mean cost per prompt in USD and mean quality in [0, 1].
struct Point {
  double cost = 0;
  double quality = 0;
};

// The best quality reachable at each cost by mixing the given operating points (routing a share
// of prompts to each): the upper convex hull of (cost, quality), cut after its highest quality so
// that it never decreases. Sorted by cost, with strictly increasing cost and quality. Of points
// with equal cost only the best counts; points on a hull edge (collinear) and points with a
// non-finite coordinate are dropped. Empty in, empty out.
std::vector<Point> quality_hull(std::span<const Point> points);

// RouterBench's AIQ (average improvement in quality): the area under the hull of `points` from
// its cheapest point to `max_cost`, with the hull extended flat at its last quality, divided by
// `max_cost`; quality counts as zero below the cheapest point. RouterBench takes `max_cost` = the
// largest cost among all the systems compared, so that their AIQs share a denominator. A hull that
// runs past `max_cost` is cut there (interpolated). When `max_cost` is at or below the cheapest
// point nothing is reachable within it and the AIQ is 0, the limit of the formula. NaN when
// `points` has no finite point or `max_cost` is not a positive finite number.
double aiq(std::span<const Point> points, double max_cost);

// The lowest cost at which the hull of `points` reaches `quality`, interpolated linearly along the
// hull edge that crosses it (a mix of the edge's two ends); the cheapest point's cost when that
// already reaches it. nullopt when no point on the hull does (or `quality` is NaN).
std::optional<double> cost_to_reach(std::span<const Point> points, double quality);

// One point of a RouteLLM curve for a (weak, strong) model pair: the share of calls the router
// sent to the strong model, in [0, 1], and the router's mean quality at that share. cpt() and
// apgr() ignore a point with a non-finite coordinate.
struct SharePoint {
  double strong_share = 0;
  double quality = 0;
};

// RouteLLM's performance gap recovered: where `quality` lies between the weak model's (0) and
// the strong model's (1). Can fall outside [0, 1]. NaN when `strong` == `weak`.
double pgr(double quality, double weak, double strong);

// RouteLLM's CPT(fraction) (call-performance threshold; CPT(50%) is `fraction` = 0.5): the
// strong-call share at which the curve's PGR first reaches `fraction`, walking the points by
// increasing share (equal shares keep their given order) and interpolating linearly between the
// two that bracket the crossing; the first point's share when it already reaches it. Target
// quality = weak + fraction·(strong − weak), as in lm-sys/RouteLLM evals/evaluate.py. That code
// uses np.interp over the curve's qualities, which agrees with this on a curve whose quality
// rises with share and reaches the target; where it does not, np.interp assumes a monotone
// curve (and clamps an unreached target to the last share) while this takes the first crossing
// and says nullopt. nullopt when no point reaches the target or `strong` == `weak`. Reaching
// means PGR ≥ fraction, so a pair with `strong` < `weak` works too.
std::optional<double> cpt(std::span<const SharePoint> curve, double weak, double strong,
                          double fraction);

// RouteLLM's APGR (average performance gap recovered), with its formula: the trapezoid area under
// quality over strong share (points sorted by share), less the weak model's area over the same
// share range, over the gap between the strong and the weak model's areas. On a curve spanning
// shares 0..1 this is the area under the curve's PGR; on a narrower one it is the mean PGR over
// the shares it spans. A straight line from the weak to the strong model scores 0.5. NaN when the
// curve has fewer than two distinct shares or `strong` == `weak`.
double apgr(std::span<const SharePoint> curve, double weak, double strong);

// One bootstrap resample of n items, drawn n times with replacement: how many times each item was
// drawn (the counts sum to n). Uses its own unbiased bounded draw rather than
// std::uniform_int_distribution, whose algorithm is left to each standard library, so a given
// seed gives the same resamples on every platform.
std::vector<std::uint32_t> bootstrap_counts(std::size_t n, std::mt19937_64& rng);

// A figure and its confidence interval.
struct Interval {
  double value = 0;
  double lo = 0;
  double hi = 0;
};

// `value` with the central `level` percentile interval of its bootstrap `samples` (level 0.95:
// the 2.5th and 97.5th percentiles), interpolated linearly between order statistics as numpy's
// default percentile does. NaN samples (a figure undefined on some resample) are ignored; lo and
// hi are NaN when no sample is left or `level` is outside (0, 1]. Takes `samples` by value to sort
// them in place: move them in.
Interval percentile_interval(double value, std::vector<double> samples, double level = 0.95);

}  // namespace switchyard::offline
