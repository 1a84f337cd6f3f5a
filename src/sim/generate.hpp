// Deterministic content for the simulated fleet: answer text, JSON instances of a schema, tool
// arguments, embeddings, and the simulated quality and token confidence of an answer.
#pragma once

#include "sim/fleet.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::sim {

// FNV-1a, for seeding: the same text always gives the same answer.
std::uint64_t hash_text(std::string_view text, std::uint64_t seed = 1469598103934665603ull);

// `n` plausible words, the first without a leading space, every other with one.
std::vector<std::string> answer_words(std::uint64_t seed, std::uint32_t n);

// An instance that validates against `schema` (types, enum, const, properties/required,
// items/minItems/maxItems, string formats and lengths, numeric bounds, anyOf/oneOf/allOf, $ref
// into $defs/definitions). `root` resolves $refs. At most 10,000 values are made, a const or
// enum value counting for all it holds: past them, and below 16 levels, the rest is null or left
// out (a schema that asks for more is not met in full).
nlohmann::json instance_of(const nlohmann::json& schema, std::mt19937_64& rng,
                           const nlohmann::json& root, int depth = 0);

// Splits text into stream pieces of about one token (four characters, at word starts).
std::vector<std::string> token_pieces(std::string_view text);

// Unit vector of `dims` floats: character trigrams hashed into buckets, so similar texts get
// similar vectors and the same text the same vector.
std::vector<float> embed(std::string_view text, std::size_t dims);
std::string base64_floats(const std::vector<float>& v);  // little-endian float32, as OpenAI

// Simulated quality (0 or 1) of `model` answering a prompt that is not in a dataset: each prompt
// has a difficulty d in [0,1) from its hash, and the answer is good with probability
// skill + s * (0.5 - d), s = min(0.8, 2 min(skill, 1 - skill)), drawn from the (model, prompt)
// hash. Averaged over prompts this is the model's skill (for the prompt's `kind`, if it has one:
// SimModel::skill_for); stronger models win on the same hard prompts, and every model finds the
// same prompts hard.
double simulated_quality(const SimModel& model, std::string_view prompt,
                         std::string_view kind = {});

// Per-token log probabilities for an answer of quality `q`: the mean token probability is
// 0.45 + 0.5 q plus per-answer noise (sd 0.3), so confidence correlates with quality but does
// not reveal it (docs/sim.md gives the measured correlation).
std::vector<double> token_logprobs(double quality, std::size_t n, std::mt19937_64& rng);

}  // namespace switchyard::sim
