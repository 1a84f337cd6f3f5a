#include "router/decision.hpp"

#include <nlohmann/json.hpp>

namespace switchyard {

nlohmann::json decision_object(const Decision& d) {
  using nlohmann::json;
  json out = json::object();
  if (!d.labels.empty()) {
    json labels = json::array();
    for (const auto& l : d.labels)
      labels.push_back({{"label", l.name}, {"confidence", l.confidence}});
    out["labels"] = std::move(labels);
  }
  if (!d.tier.empty()) {
    out["tier"] = d.tier;
    out["fallback"] = d.fallback;
  }
  if (!d.predictions.empty()) {
    json candidates = json::array();
    for (const auto& p : d.predictions)
      candidates.push_back({{"model", p.target->model->name},
                            {"upstream", p.target->upstream_config->name},
                            {"quality", p.quality},
                            {"cost_usd", p.cost_usd},
                            {"score", p.score}});
    out["candidates"] = std::move(candidates);
  }
  if (!d.demoted.empty()) {
    json demoted = json::array();
    for (const auto* t : d.demoted)
      demoted.push_back({{"model", t->model->name}, {"upstream", t->upstream_config->name}});
    out["breaker_open"] = std::move(demoted);
  }
  if (d.sticky) out["sticky"] = true;
  if (d.bandit.target)
    out["bandit"] = {{"model", d.bandit.target->model->name},
                     {"upstream", d.bandit.target->upstream_config->name},
                     {"explored", d.bandit.explored},
                     {"shadow", d.bandit.shadow}};
  return out;
}

std::string decision_json(const Decision& d) {
  return decision_object(d).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace switchyard
