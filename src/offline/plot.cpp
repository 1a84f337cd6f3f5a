#include "offline/plot.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <string_view>

namespace switchyard::offline {

namespace {

// The canvas and, inside it, the plot area; the legend takes the strip to the right of it.
constexpr double kWidth = 640;
constexpr double kHeight = 420;
constexpr double kLeft = 64;
constexpr double kRight = 470;
constexpr double kTop = 40;
constexpr double kBottom = 368;
constexpr double kLegendX = 486;

// Matplotlib's "tab10", so that charts look like the Python ones people compare them with.
constexpr std::array<std::string_view, 10> kColours = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                       "#bcbd22", "#17becf"};
constexpr std::string_view kBaselineColour = "#444444";

// Fixed-point with `decimals` digits, independent of the C locale, and never "-0".
std::string num(double v, int decimals = 1) {
  const double scale = std::pow(10.0, decimals);
  v = std::round(v * scale) / scale;
  if (v == 0) v = 0;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return std::string(buf, res.ptr);
}

// Text content that cannot break the markup: the five XML specials escaped, and the control
// characters XML 1.0 forbids dropped.
std::string escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

bool plottable(const Point& p) {
  return p.cost > 0 && std::isfinite(p.cost) && std::isfinite(p.quality);
}

// An axis position (log10 cost, or quality) and its label.
struct Tick {
  double at;
  std::string label;
};

// Ticks at m·10^k for m in {1, 3} ({1} past four decades), from the last one at or below the
// data to the first one at or above it, so that both ends of the axis are labelled.
std::vector<Tick> cost_ticks(double log_min, double log_max) {
  constexpr double kEps = 1e-9;
  const bool ones_only = log_max - log_min > 4;
  std::vector<Tick> all;
  const int first = static_cast<int>(std::floor(log_min)) - 1;
  const int last = static_cast<int>(std::ceil(log_max)) + 1;
  for (int k = first; k <= last; ++k) {
    for (int m : {1, 3}) {
      if (m == 3 && ones_only) continue;
      all.push_back({k + std::log10(m), std::to_string(m) + "e" + std::to_string(k)});
    }
  }
  std::size_t lo = 0;
  while (lo + 2 < all.size() && all[lo + 1].at <= log_min + kEps) ++lo;
  std::size_t hi = lo + 1;
  while (hi + 1 < all.size() && all[hi].at < log_max - kEps) ++hi;
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(hi) + 1, all.end());
  all.erase(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(lo));
  return all;
}

// Round steps of 1, 2 or 5·10^k, about six of them, over the data padded by 5% each way; within
// [0, 1] when the data is.
std::vector<Tick> quality_ticks(double lo, double hi) {
  const bool unit = lo >= 0 && hi <= 1;
  if (hi - lo < 1e-9) {
    lo -= 0.05;
    hi += 0.05;
  }
  const double pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const double raw = (hi - lo) / 6;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (double m : {1.0, 2.0, 5.0}) {
    if (magnitude * m >= raw) {
      step = magnitude * m;
      break;
    }
  }
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  if (unit) {
    lo = std::max(lo, 0.0);
    hi = std::min(hi, 1.0);
  }
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  const long n = std::lround((hi - lo) / step);
  std::vector<Tick> ticks;
  for (long i = 0; i <= n; ++i) {
    const double q = lo + static_cast<double>(i) * step;
    ticks.push_back({q, num(q, decimals)});
  }
  return ticks;
}

// Data coordinates to canvas pixels.
struct Axes {
  double log_lo, log_hi, q_lo, q_hi;

  double x_at_log(double log_cost) const {
    return kLeft + (log_cost - log_lo) / (log_hi - log_lo) * (kRight - kLeft);
  }
  double x(double cost) const { return x_at_log(std::log10(cost)); }
  double y(double quality) const {
    return kBottom - (quality - q_lo) / (q_hi - q_lo) * (kBottom - kTop);
  }
};

// A hull's edges are straight in linear cost (mixing two operating points); on a log axis they
// bend, so each is drawn through points spaced evenly along it.
std::vector<Point> bent_for_log_axis(const std::vector<Point>& hull) {
  constexpr int kSteps = 16;
  std::vector<Point> out;
  out.reserve(hull.size() * kSteps);
  for (std::size_t i = 0; i < hull.size(); ++i) {
    if (i > 0) {
      const Point& a = hull[i - 1];
      const Point& b = hull[i];
      for (int s = 1; s < kSteps; ++s) {
        const double t = static_cast<double>(s) / kSteps;
        out.push_back({a.cost + t * (b.cost - a.cost), a.quality + t * (b.quality - a.quality)});
      }
    }
    out.push_back(hull[i]);
  }
  return out;
}

void polyline(std::string& out, const Axes& ax, const std::vector<Point>& points,
              std::string_view colour, std::string_view extra) {
  out += "<polyline fill=\"none\" stroke=\"";
  out += colour;
  out += "\" stroke-width=\"1.5\"";
  out += extra;
  out += " points=\"";
  bool first = true;
  for (const Point& p : points) {
    if (!plottable(p)) continue;
    if (!first) out += ' ';
    first = false;
    out += num(ax.x(p.cost)) + "," + num(ax.y(p.quality));
  }
  out += "\"/>\n";
}

void square(std::string& out, double x, double y, std::string_view colour) {
  out += "<rect x=\"" + num(x - 3.5) + "\" y=\"" + num(y - 3.5) +
         "\" width=\"7\" height=\"7\" fill=\"";
  out += colour;
  out += "\"/>\n";
}

void circle(std::string& out, double x, double y, std::string_view colour) {
  out += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"3\" fill=\"";
  out += colour;
  out += "\"/>\n";
}

}  // namespace

std::string quality_cost_svg(const Plot& plot) {
  double cost_min = std::numeric_limits<double>::infinity(), cost_max = -cost_min;
  double q_min = cost_min, q_max = -cost_min;
  auto extend = [&](const Point& p) {
    if (!plottable(p)) return;
    cost_min = std::min(cost_min, p.cost);
    cost_max = std::max(cost_max, p.cost);
    q_min = std::min(q_min, p.quality);
    q_max = std::max(q_max, p.quality);
  };
  for (const Series& s : plot.curves)
    for (const Point& p : s.points) extend(p);
  for (const Labelled& b : plot.baselines) extend(b.point);
  if (cost_min > cost_max) {  // nothing to draw: an empty frame
    cost_min = 1e-4;
    cost_max = 1e-2;
    q_min = 0;
    q_max = 1;
  }
  const auto x_ticks = cost_ticks(std::log10(cost_min), std::log10(cost_max));
  const auto y_ticks = quality_ticks(q_min, q_max);
  const Axes ax{x_ticks.front().at, x_ticks.back().at, y_ticks.front().at, y_ticks.back().at};

  std::string out;
  out.reserve(8192);
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"420\" ";
  out += "viewBox=\"0 0 640 420\" font-family=\"sans-serif\" font-size=\"11\">\n";
  out += "<rect width=\"" + num(kWidth, 0) + "\" height=\"" + num(kHeight, 0) +
         "\" fill=\"white\"/>\n";
  out += "<text x=\"" + num((kLeft + kRight) / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" +
         escaped(plot.title) + "</text>\n";

  // Grid, ticks and axis titles.
  out += "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (const Tick& t : x_ticks) {
    const double x = ax.x_at_log(t.at);
    out += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(kBottom) + "\"/>\n";
  }
  for (const Tick& t : y_ticks) {
    const double y = ax.y(t.at);
    out += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(y) + "\" x2=\"" + num(kRight) +
           "\" y2=\"" + num(y) + "\"/>\n";
  }
  out += "</g>\n";
  out += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kRight - kLeft) +
         "\" height=\"" + num(kBottom - kTop) + "\" fill=\"none\" stroke=\"#888888\"/>\n";
  for (const Tick& t : x_ticks) {
    const double x = ax.x_at_log(t.at);
    out += "<text x=\"" + num(x) + "\" y=\"" + num(kBottom + 15) + "\" text-anchor=\"middle\">" +
           t.label + "</text>\n";
  }
  for (const Tick& t : y_ticks) {
    out += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(ax.y(t.at) + 4) +
           "\" text-anchor=\"end\">" + t.label + "</text>\n";
  }
  out += "<text x=\"" + num((kLeft + kRight) / 2) + "\" y=\"" + num(kHeight - 14) +
         "\" text-anchor=\"middle\">Cost per prompt (USD, log scale)</text>\n";
  const double mid_y = (kTop + kBottom) / 2;
  out += "<text x=\"18\" y=\"" + num(mid_y) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " + num(mid_y) +
         ")\">Quality</text>\n";

  // Curves: hulls first, so that the solid lines and markers stay on top.
  // The hull of what the chart shows: a free (cost 0) point would bend an edge off the axis.
  for (std::size_t i = 0; i < plot.curves.size(); ++i) {
    const Series& s = plot.curves[i];
    if (!s.hull) continue;
    std::vector<Point> shown;
    std::copy_if(s.points.begin(), s.points.end(), std::back_inserter(shown), plottable);
    polyline(out, ax, bent_for_log_axis(quality_hull(shown)), kColours[i % kColours.size()],
             " stroke-dasharray=\"5 3\" stroke-opacity=\"0.6\"");
  }
  for (std::size_t i = 0; i < plot.curves.size(); ++i) {
    const Series& s = plot.curves[i];
    const std::string_view colour = kColours[i % kColours.size()];
    polyline(out, ax, s.points, colour, "");
    for (const Point& p : s.points)
      if (plottable(p)) circle(out, ax.x(p.cost), ax.y(p.quality), colour);
  }

  // Baselines, labelled above and beside the marker, towards the middle of the plot.
  for (const Labelled& b : plot.baselines) {
    if (!plottable(b.point)) continue;
    const double x = ax.x(b.point.cost);
    const double y = ax.y(b.point.quality);
    square(out, x, y, kBaselineColour);
    const bool left = x > (kLeft + kRight) / 2;
    out += "<text x=\"" + num(left ? x - 6 : x + 6) + "\" y=\"" + num(y - 6) +
           "\" font-size=\"10\" fill=\"" + std::string(kBaselineColour) + "\" text-anchor=\"" +
           (left ? "end" : "start") + "\">" + escaped(b.name) + "</text>\n";
  }

  // Legend: one row per curve, then what the dashes and squares mean when there are any.
  double row = kTop + 8;
  auto legend_text = [&](std::string_view text) {
    out += "<text x=\"" + num(kLegendX + 26) + "\" y=\"" + num(row + 4) + "\">";
    out += text;
    out += "</text>\n";
    row += 18;
  };
  for (std::size_t i = 0; i < plot.curves.size(); ++i) {
    const std::string_view colour = kColours[i % kColours.size()];
    out += "<line x1=\"" + num(kLegendX) + "\" y1=\"" + num(row) + "\" x2=\"" + num(kLegendX + 20) +
           "\" y2=\"" + num(row) + "\" stroke=\"";
    out += colour;
    out += "\" stroke-width=\"1.5\"/>\n";
    circle(out, kLegendX + 10, row, colour);
    legend_text(escaped(plot.curves[i].name));
  }
  const bool any_hull =
      std::any_of(plot.curves.begin(), plot.curves.end(), [](const Series& s) { return s.hull; });
  if (any_hull) {
    out += "<line x1=\"" + num(kLegendX) + "\" y1=\"" + num(row) + "\" x2=\"" + num(kLegendX + 20) +
           "\" y2=\"" + num(row) +
           "\" stroke=\"#888888\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n";
    legend_text("quality hull");
  }
  if (!plot.baselines.empty()) {
    square(out, kLegendX + 10, row, kBaselineColour);
    legend_text("baseline");
  }
  out += "</svg>\n";
  return out;
}

}  // namespace switchyard::offline
