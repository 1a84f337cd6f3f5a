// The quality–cost chart an offline evaluation writes next to its numbers: one standalone SVG
// file that any browser opens, with no script, font or style sheet to fetch.
#pragma once

#include <string>
#include <vector>

#include "offline/metrics.hpp"

namespace switchyard::offline {

// A router's operating points (one per threshold or setting), joined in the given order.
// `hull` also draws their quality_hull() as a dashed line in the same colour; its edges, straight
// in linear cost (a mix of two points), are drawn bending as they do on the log axis.
struct Series {
  std::string name;
  std::vector<Point> points;
  bool hull = false;
};

// A single reference point, such as one model answering every prompt, labelled on the chart.
struct Labelled {
  std::string name;
  Point point;
};

struct Plot {
  std::string title;
  std::vector<Series> curves;
  std::vector<Labelled> baselines;
};

// A 640×420 SVG of quality (y, the data's range padded to round steps, kept within [0, 1] when
// the data is) against cost per prompt in USD (x, log10 scale, ticks at 1 and 3 of each decade, or
// at 1 alone past four decades), with light grid lines, a legend to the right, axis titles and
// the title. Each curve gets its own colour (cycling after ten); baselines are grey squares with
// their names beside them. Points that a log scale cannot show (cost ≤ 0) or with a non-finite
// coordinate are left out. Names are XML-escaped; numbers are formatted independently of the
// locale, so the same plot gives the same bytes.
std::string quality_cost_svg(const Plot& plot);

}  // namespace switchyard::offline
