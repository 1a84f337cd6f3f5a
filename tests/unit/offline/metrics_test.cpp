// The offline evaluator's figures on cases small enough to work out by hand, and its chart.
#include "offline/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "offline/plot.hpp"

namespace switchyard::offline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Two models, weak (cost 1, quality 0.5) and strong (cost 3, quality 0.9), and a router's points:
//   (2, 0.8)   above the weak–strong line (0.7 at cost 2): a hull corner
//   (2, 0.6)   same cost as a better point: dropped
//   (1.5, 0.55) below the line (1, 0.5)–(2, 0.8), which gives 0.65 at 1.5: dropped
//   (2.5, 0.8) below the line (2, 0.8)–(3, 0.9), which gives 0.85 at 2.5: dropped
//   (4, 0.85)  costs more than the strong model for less: dropped
// The hull is (1, 0.5), (2, 0.8), (3, 0.9); its slopes 0.3 then 0.1 make it concave.
const std::vector<Point> kPoints = {{3, 0.9},   {2, 0.6},  {1.5, 0.55}, {2, 0.8},
                                    {2.5, 0.8}, {4, 0.85}, {1, 0.5}};

void expect_points(const std::vector<Point>& got, const std::vector<Point>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_DOUBLE_EQ(got[i].cost, want[i].cost) << "point " << i;
    EXPECT_DOUBLE_EQ(got[i].quality, want[i].quality) << "point " << i;
  }
}

TEST(OfflineMetrics, HullKeepsTheUpperNonDecreasingCorners) {
  expect_points(quality_hull(kPoints), {{1, 0.5}, {2, 0.8}, {3, 0.9}});
}

TEST(OfflineMetrics, HullDropsCollinearEqualQualityAndNonFinitePoints) {
  // (2, 0.6) lies on the line (1, 0.5)–(3, 0.7); (5, 0.7) costs more for the same quality.
  const std::vector<Point> points = {{1, 0.5}, {2, 0.6},     {3, 0.7},
                                     {5, 0.7}, {kNaN, 0.99}, {0.5, kNaN}};
  expect_points(quality_hull(points), {{1, 0.5}, {3, 0.7}});
}

TEST(OfflineMetrics, HullOfNothingOrOnePoint) {
  EXPECT_TRUE(quality_hull({}).empty());
  const std::vector<Point> one = {{2, 0.4}};
  expect_points(quality_hull(one), {{2, 0.4}});
  // The cheapest point is also the best: nothing else is worth its cost.
  const std::vector<Point> cheapest_best = {{1, 0.9}, {2, 0.95}, {0.5, 0.95}};
  expect_points(quality_hull(cheapest_best), {{0.5, 0.95}});
}

TEST(OfflineMetrics, AiqIsTheAreaUnderTheHullOverMaxCost) {
  // max_cost 4: trapezoids (1..2) (0.5 + 0.8) / 2 = 0.65 and (2..3) (0.8 + 0.9) / 2 = 0.85, then
  // flat at 0.9 over 3..4 = 0.9; nothing below cost 1. (0.65 + 0.85 + 0.9) / 4 = 2.4 / 4 = 0.6.
  EXPECT_NEAR(aiq(kPoints, 4), 0.6, 1e-12);
  // max_cost 3 (the strong model, as RouterBench takes it): (0.65 + 0.85) / 3 = 0.5.
  EXPECT_NEAR(aiq(kPoints, 3), 0.5, 1e-12);
  // max_cost 2.5 cuts the second edge at quality 0.85: 0.65 + 0.5 · (0.8 + 0.85) / 2 = 1.0625,
  // over 2.5 = 0.425.
  EXPECT_NEAR(aiq(kPoints, 2.5), 0.425, 1e-12);
}

TEST(OfflineMetrics, AiqAtOrBelowTheCheapestPointIsZeroAndBadInputIsNaN) {
  EXPECT_EQ(aiq(kPoints, 1), 0);
  EXPECT_EQ(aiq(kPoints, 0.5), 0);
  EXPECT_TRUE(std::isnan(aiq({}, 4)));
  EXPECT_TRUE(std::isnan(aiq(kPoints, 0)));
  EXPECT_TRUE(std::isnan(aiq(kPoints, kNaN)));
}

TEST(OfflineMetrics, CostToReachInterpolatesAlongTheHull) {
  // 0.85 is halfway up the edge (2, 0.8)–(3, 0.9).
  ASSERT_TRUE(cost_to_reach(kPoints, 0.85).has_value());
  EXPECT_NEAR(*cost_to_reach(kPoints, 0.85), 2.5, 1e-12);
  // 0.6 is a third of the way up (1, 0.5)–(2, 0.8).
  EXPECT_NEAR(cost_to_reach(kPoints, 0.6).value_or(-1), 1 + 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(cost_to_reach(kPoints, 0.9).value_or(-1), 3);
  // The cheapest point already reaches anything up to its quality.
  EXPECT_DOUBLE_EQ(cost_to_reach(kPoints, 0.3).value_or(-1), 1);
}

TEST(OfflineMetrics, CostToReachIsNulloptAboveTheHull) {
  EXPECT_FALSE(cost_to_reach(kPoints, 0.91).has_value());
  EXPECT_FALSE(cost_to_reach({}, 0.1).has_value());
  EXPECT_FALSE(cost_to_reach(kPoints, kNaN).has_value());
}

TEST(OfflineMetrics, PgrPlacesQualityBetweenWeakAndStrong) {
  EXPECT_NEAR(pgr(0.7, 0.5, 0.9), 0.5, 1e-12);
  EXPECT_NEAR(pgr(0.9, 0.5, 0.9), 1.0, 1e-12);
  EXPECT_NEAR(pgr(0.4, 0.5, 0.9), -0.25, 1e-12);
  EXPECT_TRUE(std::isnan(pgr(0.7, 0.6, 0.6)));
}

// A router between weak 0.5 and strong 0.9, listed out of order. PGR at each share:
// 0 → 0, 0.2 → 0.3, 0.5 → 0.7, 1 → 1.
const std::vector<SharePoint> kCurve = {{0.5, 0.78}, {0, 0.5}, {1, 0.9}, {0.2, 0.62}};

TEST(OfflineMetrics, CptInterpolatesBetweenTheBracketingPoints) {
  // 50%: target 0.7, between (0.2, 0.62) and (0.5, 0.78): 0.2 + 0.3 · 0.08 / 0.16 = 0.35.
  EXPECT_NEAR(cpt(kCurve, 0.5, 0.9, 0.5).value_or(-1), 0.35, 1e-12);
  // 80%: target 0.82, between (0.5, 0.78) and (1, 0.9): 0.5 + 0.5 · 0.04 / 0.12 = 2/3.
  EXPECT_NEAR(cpt(kCurve, 0.5, 0.9, 0.8).value_or(-1), 2.0 / 3, 1e-12);
  // 30% is reached exactly at share 0.2; 0% by the first point.
  EXPECT_NEAR(cpt(kCurve, 0.5, 0.9, 0.3).value_or(-1), 0.2, 1e-12);
  EXPECT_NEAR(cpt(kCurve, 0.5, 0.9, 0.0).value_or(-1), 0.0, 1e-12);
}

TEST(OfflineMetrics, CptTakesTheFirstCrossingAndIsNulloptWhenNeverReached) {
  // Rises past 0.7 at share 0.3 (halfway from 0.6 to 0.8), dips, rises again.
  const std::vector<SharePoint> bumpy = {{0, 0.5}, {0.2, 0.6}, {0.4, 0.8}, {0.6, 0.65}, {1, 0.9}};
  EXPECT_NEAR(cpt(bumpy, 0.5, 0.9, 0.5).value_or(-1), 0.3, 1e-12);
  const std::vector<SharePoint> short_of_strong = {{0, 0.5}, {0.5, 0.7}, {1, 0.85}};
  EXPECT_FALSE(cpt(short_of_strong, 0.5, 0.9, 0.95).has_value());
  EXPECT_FALSE(cpt({}, 0.5, 0.9, 0.5).has_value());
  EXPECT_FALSE(cpt(kCurve, 0.6, 0.6, 0.5).has_value());
}

TEST(OfflineMetrics, ApgrOfTheStraightLineIsOneHalf) {
  const std::vector<SharePoint> line = {{0, 0.5}, {0.25, 0.6}, {1, 0.9}};
  EXPECT_NEAR(apgr(line, 0.5, 0.9), 0.5, 1e-12);
}

TEST(OfflineMetrics, ApgrOfAStepCurveBeatsTheLine) {
  // Strong quality from 30% strong calls on: AUC = 0.3 · (0.5 + 0.9) / 2 + 0.7 · 0.9 = 0.84;
  // (0.84 − 0.5) / (0.9 − 0.5) = 0.85.
  const std::vector<SharePoint> step = {{0, 0.5}, {0.3, 0.9}, {1, 0.9}};
  EXPECT_NEAR(apgr(step, 0.5, 0.9), 0.85, 1e-12);
}

TEST(OfflineMetrics, ApgrByHand) {
  // AUC = 0.2 · (0.5 + 0.62) / 2 + 0.3 · (0.62 + 0.78) / 2 + 0.5 · (0.78 + 0.9) / 2
  //     = 0.112 + 0.21 + 0.42 = 0.742; APGR = (0.742 − 0.5) / (0.9 − 0.5) = 0.605.
  EXPECT_NEAR(apgr(kCurve, 0.5, 0.9), 0.605, 1e-12);
  // Shares 0.2..1 only: AUC = 0.63, weak area 0.5 · 0.8 = 0.4, strong area 0.9 · 0.8 = 0.72;
  // (0.63 − 0.4) / (0.72 − 0.4) = 0.71875.
  const std::vector<SharePoint> from_20 = {{0.2, 0.62}, {0.5, 0.78}, {1, 0.9}};
  EXPECT_NEAR(apgr(from_20, 0.5, 0.9), 0.71875, 1e-12);
}

TEST(OfflineMetrics, ApgrOfDegenerateInputIsNaN) {
  const std::vector<SharePoint> one = {{0.5, 0.7}};
  const std::vector<SharePoint> one_share = {{0.5, 0.7}, {0.5, 0.8}};
  EXPECT_TRUE(std::isnan(apgr(one, 0.5, 0.9)));
  EXPECT_TRUE(std::isnan(apgr(one_share, 0.5, 0.9)));
  EXPECT_TRUE(std::isnan(apgr(kCurve, 0.7, 0.7)));
}

TEST(OfflineMetrics, BootstrapCountsDrawNWithReplacement) {
  std::mt19937_64 rng(42);
  auto counts = bootstrap_counts(10000, rng);
  ASSERT_EQ(counts.size(), 10000u);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}), 10000u);
  // An item is left out with probability (1 − 1/n)^n ≈ 1/e ≈ 0.368.
  auto left_out = std::count(counts.begin(), counts.end(), 0u);
  EXPECT_NEAR(static_cast<double>(left_out) / 10000, 0.368, 0.02);

  std::mt19937_64 same(42);
  EXPECT_EQ(bootstrap_counts(10000, same), counts);
  std::mt19937_64 other(43);
  EXPECT_NE(bootstrap_counts(10000, other), counts);
  EXPECT_TRUE(bootstrap_counts(0, rng).empty());
}

TEST(OfflineMetrics, PercentileIntervalInterpolatesBetweenOrderStatistics) {
  // 0, 1, …, 100 reversed: the p-th percentile is p itself.
  std::vector<double> samples(101);
  std::iota(samples.rbegin(), samples.rend(), 0.0);
  auto ci = percentile_interval(50.5, samples, 0.9);
  EXPECT_EQ(ci.value, 50.5);
  EXPECT_NEAR(ci.lo, 5, 1e-9);
  EXPECT_NEAR(ci.hi, 95, 1e-9);
  ci = percentile_interval(50, samples);
  EXPECT_NEAR(ci.lo, 2.5, 1e-9);
  EXPECT_NEAR(ci.hi, 97.5, 1e-9);
  // Four samples: the 2.5th percentile sits at position 0.075, between 10 and 20.
  ci = percentile_interval(0, {40, 10, 30, 20});
  EXPECT_NEAR(ci.lo, 10.75, 1e-9);
  EXPECT_NEAR(ci.hi, 39.25, 1e-9);
}

TEST(OfflineMetrics, PercentileIntervalIgnoresNaNSamples) {
  auto ci = percentile_interval(0, {kNaN, 40, 10, kNaN, 30, 20, kNaN});
  EXPECT_NEAR(ci.lo, 10.75, 1e-9);
  EXPECT_NEAR(ci.hi, 39.25, 1e-9);
  ci = percentile_interval(0.7, {kNaN, kNaN});
  EXPECT_EQ(ci.value, 0.7);
  EXPECT_TRUE(std::isnan(ci.lo));
  EXPECT_TRUE(std::isnan(ci.hi));
  EXPECT_TRUE(std::isnan(percentile_interval(0.7, {}).lo));
}

Plot sample_plot() {
  Plot plot;
  plot.title = "Routers on <test> & friends";
  plot.curves.push_back({"threshold <a&b>", {{1e-4, 0.5}, {2e-4, 0.7}, {3e-4, 0.68}}, true});
  plot.curves.push_back({"cascade \"x\"", {{1.5e-4, 0.6}, {5e-4, 0.9}}, false});
  plot.baselines.push_back({"gpt-4o <strong>", {5e-4, 0.9}});
  plot.baselines.push_back({"mini 'weak'", {1e-4, 0.5}});
  return plot;
}

TEST(OfflineMetrics, PlotIsAStandaloneSvgWithEscapedNames) {
  const std::string svg = quality_cost_svg(sample_plot());
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  ASSERT_GE(svg.size(), 7u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  for (const char* escaped :
       {"Routers on &lt;test&gt; &amp; friends", "threshold &lt;a&amp;b&gt;",
        "cascade &quot;x&quot;", "gpt-4o &lt;strong&gt;", "mini &apos;weak&apos;"})
    EXPECT_NE(svg.find(escaped), std::string::npos) << escaped;
  EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
  EXPECT_EQ(svg.find("<test>"), std::string::npos);
  // Costs run from 1e-4 to 5e-4: the axis is labelled from 1e-4 to 1e-3, through 3e-4.
  for (const char* label : {">1e-4<", ">3e-4<", ">1e-3<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // the requested hull
  EXPECT_EQ(svg.find("href"), std::string::npos);              // nothing external
}

TEST(OfflineMetrics, PlotIsDeterministic) {
  EXPECT_EQ(quality_cost_svg(sample_plot()), quality_cost_svg(sample_plot()));
  Plot moved = sample_plot();
  moved.curves[0].points[1].quality = 0.71;
  EXPECT_NE(quality_cost_svg(moved), quality_cost_svg(sample_plot()));
}

TEST(OfflineMetrics, PlotOfNothingIsAnEmptyFrame) {
  const std::string svg = quality_cost_svg({});
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace switchyard::offline
