// Similarity to reference answers: for questions whose right answer is known, an answer must say
// what the reference says, as an embeddings model sees it. Configured in a tier's gates:
//
//   similar:
//     model: text-embedding-3-small   # an embeddings model; its upstreams are tried in order
//     references:
//       - {question: "What is our refund window?", answer: "30 days from delivery."}
//     min_question: 0.9   # a reference applies to a prompt at least this close (cosine)
//     min_answer: 0.8     # the answer must be at least this close to that reference's answer
//
// One embeddings call per judged answer embeds the prompt (the last user message) and the
// answer; the first call also embeds every reference, and the gate keeps those vectors for the
// life of the config. A prompt close to no reference question passes: the gate speaks only for
// known questions. Its calls are billed to the request like any other and counted in the
// embeddings model's metrics. The Similar is immutable but for that cache, which is published
// once by a compare-and-swap and read without a lock; shared by every worker.
#pragma once

#include "router/gates/answer.hpp"
#include "switchyard/extension.hpp"

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

namespace switchyard {

struct Similar {
  struct Cache;  // the references' embeddings, once computed
  std::vector<const Target*> targets;  // the embeddings model's, in config order
  std::vector<std::string> questions, answers;  // the references, in config order
  double min_question = 0.9, min_answer = 0.8;
  std::shared_ptr<Cache> cache;
};

// Reads a `similar` mapping, resolving its model through `ctx`; throws ConfigFailure naming the
// path (call inside read_guarded).
Similar read_similar(const YAML::Node& node, const std::string& path, BuildContext& ctx);

// Empty when no reference applies to the request's prompt or the answer is close enough to its
// reference's answer; else why not ("similarity 0.41 to the reference answer, below 0.8", or the
// embeddings call's failure: an answer the gate cannot check does not pass). Cancelled with the
// request.
Task<std::string> check_similar(RouteContext& ctx, const Similar& similar, const Answer& answer);

// The cosine similarity of two vectors of one length; 0 when either is all zeros.
double cosine(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace switchyard
