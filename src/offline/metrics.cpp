#include "offline/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

namespace switchyard::offline {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool finite(const Point& p) {
  return std::isfinite(p.cost) && std::isfinite(p.quality);
}
bool finite(const SharePoint& p) {
  return std::isfinite(p.strong_share) && std::isfinite(p.quality);
}

// The quality of the straight line from a to b at `cost`.
double quality_between(const Point& a, const Point& b, double cost) {
  return a.quality + (b.quality - a.quality) * (cost - a.cost) / (b.cost - a.cost);
}

// `curve` without non-finite points, by increasing share with equal shares in their given order.
// Copies into `storage` only when the curve is not already so.
std::span<const SharePoint> by_share(std::span<const SharePoint> curve,
                                     std::vector<SharePoint>& storage) {
  auto less = [](const SharePoint& a, const SharePoint& b) {
    return a.strong_share < b.strong_share;
  };
  auto all_finite =
      std::all_of(curve.begin(), curve.end(), [](const SharePoint& p) { return finite(p); });
  if (all_finite && std::is_sorted(curve.begin(), curve.end(), less)) return curve;
  storage.clear();
  std::copy_if(curve.begin(), curve.end(), std::back_inserter(storage),
               [](const SharePoint& p) { return finite(p); });
  std::stable_sort(storage.begin(), storage.end(), less);
  return storage;
}

}  // namespace

std::vector<Point> quality_hull(std::span<const Point> points) {
  std::vector<Point> hull;
  hull.reserve(points.size());
  std::copy_if(points.begin(), points.end(), std::back_inserter(hull),
               [](const Point& p) { return finite(p); });
  // By cost, the best first among equal costs, so that the first of each cost is the one kept.
  std::sort(hull.begin(), hull.end(), [](const Point& a, const Point& b) {
    return a.cost < b.cost || (a.cost == b.cost && a.quality > b.quality);
  });
  // Andrew's monotone chain, upper half, in place: hull[0, k) is the hull of the points so far,
  // each of its corners a clockwise turn. A point that makes a counter-clockwise turn or none
  // (collinear) with the last two removes the middle one.
  std::size_t k = 0;
  for (std::size_t i = 0; i < hull.size(); ++i) {
    const Point p = hull[i];
    if (k > 0 && hull[k - 1].cost == p.cost) continue;
    while (k >= 2) {
      const Point& a = hull[k - 2];
      const Point& b = hull[k - 1];
      double cross =
          (b.cost - a.cost) * (p.quality - a.quality) - (b.quality - a.quality) * (p.cost - a.cost);
      if (cross < 0) break;
      --k;
    }
    hull[k++] = p;
  }
  // A concave chain rises, then falls; keep it up to its (first) highest point.
  if (k > 0) {
    auto best =
        std::max_element(hull.begin(), hull.begin() + static_cast<std::ptrdiff_t>(k),
                         [](const Point& a, const Point& b) { return a.quality < b.quality; });
    k = static_cast<std::size_t>(best - hull.begin()) + 1;
  }
  hull.resize(k);
  return hull;
}

double aiq(std::span<const Point> points, double max_cost) {
  if (!(max_cost > 0) || !std::isfinite(max_cost)) return kNaN;
  auto hull = quality_hull(points);
  if (hull.empty()) return kNaN;
  if (max_cost <= hull.front().cost) return 0;
  double area = 0;
  for (std::size_t i = 1; i < hull.size() && hull[i - 1].cost < max_cost; ++i) {
    const Point& a = hull[i - 1];
    Point b = hull[i];
    if (b.cost > max_cost) b = {max_cost, quality_between(a, b, max_cost)};
    area += (b.cost - a.cost) * (a.quality + b.quality) / 2;
  }
  if (hull.back().cost < max_cost) area += (max_cost - hull.back().cost) * hull.back().quality;
  return area / max_cost;
}

std::optional<double> cost_to_reach(std::span<const Point> points, double quality) {
  if (std::isnan(quality)) return std::nullopt;
  auto hull = quality_hull(points);
  for (std::size_t i = 0; i < hull.size(); ++i) {
    if (hull[i].quality < quality) continue;
    if (i == 0) return hull[0].cost;
    // Along the hull quality rises strictly, so the edge's qualities differ.
    const Point& a = hull[i - 1];
    const Point& b = hull[i];
    return a.cost + (b.cost - a.cost) * (quality - a.quality) / (b.quality - a.quality);
  }
  return std::nullopt;
}

double pgr(double quality, double weak, double strong) {
  if (strong == weak) return kNaN;
  return (quality - weak) / (strong - weak);
}

std::optional<double> cpt(std::span<const SharePoint> curve, double weak, double strong,
                          double fraction) {
  if (!(strong != weak)) return std::nullopt;  // equal, or NaN
  const double target = weak + fraction * (strong - weak);
  auto reaches = [&](double q) { return strong > weak ? q >= target : q <= target; };
  std::vector<SharePoint> storage;
  auto sorted = by_share(curve, storage);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!reaches(sorted[i].quality)) continue;
    if (i == 0) return sorted[0].strong_share;
    // The previous point fell short, so the two qualities lie on either side of the target.
    const SharePoint& a = sorted[i - 1];
    const SharePoint& b = sorted[i];
    return a.strong_share +
           (b.strong_share - a.strong_share) * (target - a.quality) / (b.quality - a.quality);
  }
  return std::nullopt;
}

double apgr(std::span<const SharePoint> curve, double weak, double strong) {
  if (!(strong != weak)) return kNaN;
  std::vector<SharePoint> storage;
  auto sorted = by_share(curve, storage);
  if (sorted.size() < 2) return kNaN;
  const double width = sorted.back().strong_share - sorted.front().strong_share;
  if (width == 0) return kNaN;
  double auc = 0;
  for (std::size_t i = 1; i < sorted.size(); ++i)
    auc += (sorted[i].strong_share - sorted[i - 1].strong_share) *
           (sorted[i].quality + sorted[i - 1].quality) / 2;
  return (auc - weak * width) / (strong * width - weak * width);
}

std::vector<std::uint32_t> bootstrap_counts(std::size_t n, std::mt19937_64& rng) {
  static_assert(std::mt19937_64::min() == 0 &&
                std::mt19937_64::max() == std::numeric_limits<std::uint64_t>::max());
  std::vector<std::uint32_t> counts(n, 0);
  if (n == 0) return counts;
  // Unbiased x % n: reject the lowest 2^64 mod n values so that every residue is equally likely.
  const std::uint64_t bound = n;
  const std::uint64_t reject_below = (std::uint64_t{0} - bound) % bound;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t x = rng();
    while (x < reject_below) x = rng();
    ++counts[x % bound];
  }
  return counts;
}

Interval percentile_interval(double value, std::vector<double> samples, double level) {
  Interval out{value, kNaN, kNaN};
  std::erase_if(samples, [](double s) { return std::isnan(s); });
  if (samples.empty() || !(level > 0 && level <= 1)) return out;
  std::sort(samples.begin(), samples.end());
  // numpy's default ("linear"): the p-th percentile sits at position p·(m − 1) in sorted order.
  auto at = [&](double p) {
    double pos = p * static_cast<double>(samples.size() - 1);
    auto i = static_cast<std::size_t>(pos);
    double f = pos - static_cast<double>(i);
    if (f == 0 || i + 1 >= samples.size()) return samples[i];
    return samples[i] + f * (samples[i + 1] - samples[i]);
  };
  out.lo = at((1 - level) / 2);
  out.hi = at(1 - (1 - level) / 2);
  return out;
}

}  // namespace switchyard::offline
