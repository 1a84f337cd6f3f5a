#include "router/learned/model.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

namespace switchyard {

namespace {

constexpr char kMagic[8] = {'S', 'W', 'Y', 'R', 'O', 'U', 'T', 'R'};
constexpr float kMaxWeight = 1e6f;

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads the file's parts in order; fails once, with the first thing that is wrong.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : in_(bytes) {}
  template <class T>
  bool get(T& v) {
    if (in_.size() < sizeof v) return false;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return true;
  }
  bool get(std::string_view& v, std::uint64_t n) {
    if (in_.size() < n) return false;
    v = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool floats(std::vector<float>& v, std::uint64_t expected) {
    std::uint64_t n = 0;
    if (!get(n) || n != expected || in_.size() / sizeof(float) < n) return false;
    v.resize(n);
    std::memcpy(v.data(), in_.data(), n * sizeof(float));
    in_.remove_prefix(n * sizeof(float));
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

double weight_for(const std::vector<Calibration>& cal, double share,
                  double Calibration::*field) {
  if (cal.empty()) return 0;
  for (std::size_t i = 0; i < cal.size(); ++i) {
    if (cal[i].*field > share) continue;
    if (i == 0) return cal[0].cost_weight;
    const auto& a = cal[i - 1];
    const auto& b = cal[i];
    const double t = (a.*field - share) / (a.*field - b.*field);
    return a.cost_weight + t * (b.cost_weight - a.cost_weight);
  }
  return cal.back().cost_weight;
}

}  // namespace

int LearnedModel::model_index(std::string_view name) const {
  auto it = std::find(models.begin(), models.end(), name);
  return it == models.end() ? -1 : static_cast<int>(it - models.begin());
}

void LearnedModel::predict(std::span<const Feature> x, std::span<double> quality_out,
                           std::span<double> tokens_out) const {
  const std::size_t m = models.size(), row = 2 * m;
  // Float sums for speed; at most a few thousand terms of moderate size. One feature's row
  // holds both heads, so each feature costs one or two cache lines.
  // Four lanes at a time, written out so that -O2's straight-line vectoriser makes them one
  // SIMD multiply-add.
  float z[128] = {};
  const std::size_t blocks = row / 4 * 4;
  for (const auto& f : x) {
    const float* w = &weights[f.index * row];
    const float v = f.value;
    std::size_t j = 0;
    for (; j < blocks; j += 4) {
      z[j] += w[j] * v;
      z[j + 1] += w[j + 1] * v;
      z[j + 2] += w[j + 2] * v;
      z[j + 3] += w[j + 3] * v;
    }
    for (; j < row; ++j) z[j] += w[j] * v;
  }
  for (std::size_t j = 0; j < m; ++j) {
    quality_out[j] = 1 / (1 + std::exp(-static_cast<double>(z[j])));
    // Bounded as the outcomes loader bounds a recorded count, so that a cost is never infinite.
    tokens_out[j] = std::clamp(std::expm1(static_cast<double>(z[m + j])), 0.0, 1048576.0);
  }
}

double LearnedModel::weight_for_strongest_share(double share) const {
  return weight_for(calibration, share, &Calibration::strongest_share);
}

double LearnedModel::weight_for_cost_share(double share) const {
  return weight_for(calibration, share, &Calibration::cost_share);
}

Result<void> LearnedModel::save(const std::string& path) const {
  nlohmann::json cal = nlohmann::json::array();
  for (const auto& c : calibration)
    cal.push_back({{"cost_weight", c.cost_weight},
                   {"strongest_share", c.strongest_share},
                   {"cost_share", c.cost_share}});
  nlohmann::json meta = {{"hash_bits", space.hash_bits},
                         {"char_ngrams", space.char_ngrams},
                         {"models", models},
                         {"mean_quality", mean_quality},
                         {"mean_cost", mean_cost},
                         {"strongest", strongest},
                         {"reference_cost", reference_cost},
                         {"calibration", std::move(cal)},
                         {"trained_on", trained_on}};
  if (escalation) meta["escalation"] = {{"from", escalation->from}, {"to", escalation->to}};
  const std::string meta_text = meta.dump();
  std::string out(kMagic, sizeof kMagic);
  put(out, kVersion);
  put(out, static_cast<std::uint64_t>(meta_text.size()));
  out += meta_text;
  put(out, static_cast<std::uint64_t>(weights.size()));
  out.append(reinterpret_cast<const char*>(weights.data()), weights.size() * sizeof(float));
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!f) return make_error(Reason::internal, path + ": cannot write the model");
  return {};
}

Result<std::shared_ptr<const LearnedModel>> LearnedModel::load(const std::string& path) {
  auto bad = [&](const std::string& why) {
    return make_error(Reason::internal, path + ": " + why);
  };
  std::ifstream f(path, std::ios::binary);
  if (!f) return bad("cannot open the router model");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Reader r(bytes);
  std::string_view magic;
  if (!r.get(magic, sizeof kMagic) || magic != std::string_view(kMagic, sizeof kMagic))
    return bad("not a switchyard router model (switchyard train writes them)");
  std::uint32_t version = 0;
  std::uint64_t meta_size = 0;
  std::string_view meta_text;
  if (!r.get(version)) return bad("truncated router model");
  if (version != kVersion)
    return bad("router model format version " + std::to_string(version) + "; this build reads " +
               std::to_string(kVersion) + " (retrain it with switchyard train)");
  if (!r.get(meta_size) || !r.get(meta_text, meta_size)) return bad("truncated router model");
  auto meta = nlohmann::json::parse(meta_text, nullptr, false);
  auto m = std::make_shared<LearnedModel>();
  // A count written otherwise than as an unsigned integer (1e30, 4294967304.0) reads as one
  // no check below accepts: get<std::uint32_t>() of it would convert out of range.
  const auto count = [&](const char* key) {
    const auto& v = meta.at(key);
    return v.is_number_unsigned() && v.get<std::uint64_t>() <= 1000 ? v.get<std::uint32_t>()
                                                                     : 1000u;
  };
  try {
    if (meta.is_discarded()) return bad("router model metadata is not JSON");
    m->space.hash_bits = count("hash_bits");
    // Absent in files written before character n-grams existed.
    m->space.char_ngrams = meta.contains("char_ngrams") ? count("char_ngrams") : 0;
    m->models = meta.at("models").get<std::vector<std::string>>();
    m->mean_quality = meta.at("mean_quality").get<std::vector<double>>();
    m->mean_cost = meta.at("mean_cost").get<std::vector<double>>();
    m->strongest = count("strongest");
    m->reference_cost = meta.at("reference_cost").get<double>();
    m->trained_on = meta.value("trained_on", "");
    for (const auto& c : meta.at("calibration"))
      m->calibration.push_back({c.at("cost_weight").get<double>(),
                                c.at("strongest_share").get<double>(),
                                c.at("cost_share").get<double>()});
    if (auto e = meta.find("escalation"); e != meta.end())
      m->escalation = Escalation{e->at("from").get<std::vector<std::string>>(),
                                 e->at("to").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    return bad(std::string("router model metadata: ") + e.what());
  }
  const std::size_t n = m->models.size();
  const auto quality = [](double q) { return q >= 0 && q <= 1; };
  const auto cost = [](double c) { return c >= 0 && std::isfinite(c); };
  if (n == 0 || n > 64 || m->space.hash_bits < 8 ||
      m->space.hash_bits > 24 || m->space.char_ngrams > 8 || m->mean_quality.size() != n ||
      m->mean_cost.size() != n || m->strongest >= n || !(m->reference_cost > 0) ||
      !cost(m->reference_cost) || !std::ranges::all_of(m->mean_quality, quality) ||
      !std::ranges::all_of(m->mean_cost, cost) ||
      (m->escalation && (n != 1 || m->escalation->from.empty())))
    return bad("router model metadata is inconsistent");
  if (!r.floats(m->weights, std::uint64_t{m->features()} * 2 * n))
    return bad("truncated router model");
  if (!r.done()) return bad("router model has bytes past its end");
  // Trained weights are a few units (2.6 at most on RouterBench); a far larger one, or one that
  // is not a number, is a damaged file, whose sums could make predictions that are not numbers.
  if (!std::ranges::all_of(m->weights, [](float w) { return std::fabs(w) < kMaxWeight; }))
    return bad("router model has a weight that is not a number below 1e6 in size");
  return std::shared_ptr<const LearnedModel>(std::move(m));
}

}  // namespace switchyard
