// The `cascade` dispatcher against FakeUpstream ("say=TEXT" models): escalation on each kind of
// failed gate, agreement across a tier, a judge model's grade, the last tier's answer whatever
// it says, streams, the metrics and the config's errors. No socket.
#include "router/resolve.hpp"
#include "support/fakes.hpp"
#include "support/fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace switchyard::test {
namespace {

// Models that always say the same thing, each 1 USD per million tokens in and out.
std::string config(const std::string& tiers) {
  return R"(
upstreams:
  - name: u
    base_url: http://127.0.0.1:1/v1
    models:
      - {name: refuser, id: "say=I'm sorry, but I can't help with that.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: b1, id: "say=B", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: b2, id: "say=(B) because the wall is load-bearing", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: c, id: "say=C", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: cut, id: "say=The answer is|length", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: prose, id: "say=Sure! Here it is.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: json, id: "say={\"city\": \"Paris\"}", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: down, id: "status=503", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: picky, id: "status=400", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: strong, id: "say=The answer is B.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: grades-8, id: "say=8", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: grades-3, id: "say=Score: 3/10", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: mumbles, id: "say=Hard to say.", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: coder, id: "say=```\ndef f(): pass\n```", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: scribbler, id: "say=```\nf = 1\n```", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: sampler, id: "say=C;B;(B) as the wall is load-bearing", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: scatter, id: "say=A;B;C", price_usd_per_mtok: {input: 1, output: 1}}
      - {name: embed, price_usd_per_mtok: {input: 1, output: 0}}
routes:
  auto:
    stages: [{type: static, models: [refuser, b1, b2, c, cut, prose, json, down, picky, coder, scribbler, sampler, scatter, strong]}]
    dispatcher:
      type: cascade
      tiers:
)" + tiers;
}

struct Outcome : Dispatched {
  std::string metrics;
  std::vector<std::string> bodies;  // what the upstream was sent, in order
};

// `busy`: the upstream has this many calls in flight (of its max_concurrent, 256).
Outcome run_cascade(const std::string& tiers, const std::string& extra = {},
                    const Caller& caller = {}, std::uint32_t busy = 0) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(metrics, config(tiers));
  Outcome o;
  if (!snap) return o;
  auto req = chat_request(extra);
  req.model = "auto";
  FakeUpstreams ups;
  UpstreamState& u = snap->models.at("strong").front()->state->upstream;
  u.in_flight += busy;
  static_cast<Dispatched&>(o) = dispatch_request(*snap, ups, std::move(req), caller);
  u.in_flight -= busy;
  o.metrics = metrics.serialize();
  o.bodies = ups.upstreams[0].bodies;
  return o;
}

using Models = std::vector<std::string>;

TEST(Cascade, ARefusalEscalatesAndAnAnswerThatPassesIsCommitted) {
  auto o = run_cascade(R"(
        - {models: [refuser], gates: {refusal: true}}
        - {models: [b1], gates: {refusal: true}}
        - {models: [strong]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"refuser", "b1"}));  // strong was never asked
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b1");
  EXPECT_EQ(o.out.headers["x-switchyard-tiers"], "2");
  EXPECT_EQ(o.out.headers["x-switchyard-escalations"], "refuser: refusal (matched)");
  EXPECT_EQ(o.out.headers["x-switchyard-attempts"], "2");
  EXPECT_NE(o.out.body.find(R"("content":"B")"), std::string::npos) << o.out.body;
  EXPECT_NE(o.metrics.find(R"(switchyard_cascade_escalations_total{from="refuser",reason="refusal",route="auto",to="b1"} 1)"),
            std::string::npos) << o.metrics;
  EXPECT_NE(o.metrics.find(R"(switchyard_gate_results_total{gate="refusal",result="fail",route="auto"} 1)"),
            std::string::npos);
  EXPECT_NE(o.metrics.find(R"(switchyard_gate_results_total{gate="refusal",result="pass",route="auto"} 1)"),
            std::string::npos);
  EXPECT_EQ(o.costs, (std::vector<double>{1e-5, 1e-5}));  // 10 tokens at 1 USD per million
}

TEST(Cascade, AgreementCommitsTheSharedAnswerAndDisagreementEscalates) {
  // "B" and "(B) because ..." pick the same choice: b1's answer goes out, both calls are billed.
  auto agree = run_cascade(R"(
        - {models: [b1, b2], gates: {agreement: {min_share: 1}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(agree.result);
  EXPECT_EQ(agree.called.size(), 2u);
  EXPECT_EQ(agree.out.headers["x-switchyard-model"], "b1");
  EXPECT_EQ(agree.out.headers["x-switchyard-tiers"], "1");
  auto disagree = run_cascade(R"(
        - {models: [b1, c], gates: {agreement: {min_share: 1}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(disagree.result);
  EXPECT_EQ(disagree.called, (Models{"b1", "c", "strong"}));
  EXPECT_EQ(disagree.out.headers["x-switchyard-model"], "strong");
  EXPECT_EQ(disagree.out.headers["x-switchyard-escalations"], "b1: agreement (1 of 2 agree)");
  // Half is enough when asked: of tied groups, the one whose model the stages ranked first wins
  // (the static stage lists b1 before c).
  auto half = run_cascade(R"(
        - {models: [c, b1], gates: {agreement: {min_share: 0.5}}}
        - {models: [strong]}
)");
  EXPECT_EQ(half.called, (Models{"b1", "c"}));
  EXPECT_EQ(half.out.headers["x-switchyard-model"], "b1");
  // A model that failed counts among those asked: one answer agrees with nothing.
  auto alone = run_cascade(R"(
        - {models: [b1, down], gates: {agreement: {min_share: 0.6}}}
        - {models: [strong]}
)");
  EXPECT_EQ(alone.out.headers["x-switchyard-model"], "strong");
  EXPECT_EQ(alone.out.headers["x-switchyard-escalations"], "b1: agreement (1 of 2 agree)");
}

TEST(Cascade, AgreementSamplesOneModelAndTheClientGetsTheChoiceMostAgreeOn) {
  const std::string tiers = R"(
        - {models: [sampler], gates: {agreement: {min_share: 0.6, samples: 3}}}
        - {models: [strong]}
)";
  auto o = run_cascade(tiers);
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"sampler"}));  // one call, for three choices
  ASSERT_EQ(o.bodies.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(o.bodies[0])["n"], 3);
  // Choices 1 and 2 pick B: the first of them goes out, as the only choice, index 0.
  auto body = nlohmann::json::parse(o.out.body);
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["index"], 0);
  EXPECT_EQ(body["choices"][0]["message"]["content"], "B");
  EXPECT_EQ(body["usage"]["completion_tokens"], 9);  // every choice was billed
  EXPECT_NE(o.metrics.find(R"(switchyard_gate_results_total{gate="agreement",result="pass",route="auto"} 1)"),
            std::string::npos);

  // A stream gets only that choice's events, renumbered, and [DONE].
  auto s = run_cascade(tiers, R"(,"stream":true)");
  ASSERT_TRUE(s.result);
  std::string content;
  for (const auto& e : s.out.events) {
    if (e == "data: [DONE]\n\n") continue;
    auto j = nlohmann::json::parse(e.substr(6));
    for (const auto& c : j["choices"]) {
      EXPECT_EQ(c["index"], 0) << e;
      if (c["delta"].contains("content")) content += c["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(content, "B");
  EXPECT_EQ(s.out.events.size(), 3u);  // content, finish, [DONE] (no usage was asked for)
  auto with_usage = run_cascade(tiers, R"(,"stream":true,"stream_options":{"include_usage":true})");
  ASSERT_EQ(with_usage.out.events.size(), 4u);  // the usage chunk too, choices and all
  EXPECT_EQ(nlohmann::json::parse(with_usage.out.events[2].substr(6))["usage"]["completion_tokens"],
            9);

  // Three different answers: 1 of 3 agree, so GPT-4's tier answers.
  auto scattered = run_cascade(R"(
        - {models: [scatter], gates: {agreement: {min_share: 0.6, samples: 3}}}
        - {models: [strong]}
)");
  EXPECT_EQ(scattered.called, (Models{"scatter", "strong"}));
  EXPECT_EQ(scattered.out.headers["x-switchyard-escalations"], "scatter: agreement (1 of 3 agree)");
  // "n": 1 is one choice too: the tier asks for three instead.
  auto one = run_cascade(tiers, R"(,"n":1)");
  ASSERT_EQ(one.bodies.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(one.bodies[0])["n"], 3);
  EXPECT_EQ(one.called, (Models{"sampler"}));
  // A client that asks for several choices keeps its own: each model's call is one vote, and
  // the answer goes back whole.
  auto own = run_cascade(tiers, R"(,"n":2)");
  EXPECT_EQ(nlohmann::json::parse(own.bodies[0])["n"], 2);
  EXPECT_EQ(own.called, (Models{"sampler"}));
  EXPECT_EQ(nlohmann::json::parse(own.out.body)["choices"].size(), 2u);
}

// The fake embeds a text as its letter counts: the prompt "x" is the question "x", and "B" is
// the reference answer "b" but not "C".
TEST(Cascade, AnAnswerUnlikeAKnownQuestionsReferenceEscalates) {
  const std::string gate =
      "{similar: {model: embed, references: [{question: why, answer: no}, "
      "{question: x, answer: b}]}}";
  auto unlike = run_cascade("        - {models: [c], gates: " + gate + "}\n" +
                            "        - {models: [strong]}\n");
  ASSERT_TRUE(unlike.result);
  EXPECT_EQ(unlike.called, (Models{"c", "embed", "strong"}));
  EXPECT_EQ(unlike.out.headers["x-switchyard-escalations"],
            "c: similar (similarity 0.00 to the reference answer, below 0.8)");
  EXPECT_EQ(unlike.costs.size(), 3u);  // the embeddings call is billed too
  EXPECT_NE(unlike.metrics.find(R"(switchyard_gate_results_total{gate="similar",result="fail",route="auto"} 1)"),
            std::string::npos);
  auto like = run_cascade("        - {models: [b1], gates: " + gate + "}\n" +
                          "        - {models: [strong]}\n");
  EXPECT_EQ(like.called, (Models{"b1", "embed"}));
  EXPECT_EQ(like.out.headers["x-switchyard-model"], "b1");
  // A question the gate has no reference for passes whatever the answer.
  auto unknown = run_cascade(
      "        - {models: [c], gates: {similar: {model: embed, references: "
      "[{question: why, answer: b}]}}}\n        - {models: [strong]}\n");
  EXPECT_EQ(unknown.called, (Models{"c", "embed"}));
  EXPECT_EQ(unknown.out.headers["x-switchyard-model"], "c");
}

TEST(Cascade, TheReferencesAreEmbeddedOnceAndKept) {
  Metrics metrics;
  auto snap = snapshot_from_yaml(
      metrics, config("        - {models: [b1], gates: {similar: {model: embed, references: "
                      "[{question: x, answer: b}]}}}\n        - {models: [strong]}\n"));
  ASSERT_TRUE(snap);
  FakeUpstreams ups;
  for (int i = 0; i < 2; ++i) {
    auto req = chat_request();
    req.model = "auto";
    auto o = dispatch_request(*snap, ups, std::move(req));
    EXPECT_EQ(o.out.headers["x-switchyard-model"], "b1");
  }
  std::vector<std::size_t> inputs;  // per embeddings call
  for (const auto& b : ups.upstreams[0].bodies)
    if (auto j = nlohmann::json::parse(b); j.contains("input")) inputs.push_back(j["input"].size());
  // The prompt and the answer, with the reference's question and answer the first time only.
  EXPECT_EQ(inputs, (std::vector<std::size_t>{4, 2}));
}

TEST(Cascade, TruncatedProseAndInvalidJsonEscalate) {
  auto cut = run_cascade(R"(
        - {models: [cut], gates: {finish_reason: [length, content_filter]}}
        - {models: [strong]}
)");
  EXPECT_EQ(cut.out.headers["x-switchyard-escalations"], "cut: finish_reason (finish_reason length)");
  const std::string json_object = R"(,"response_format":{"type":"json_object"})";
  auto prose = run_cascade(R"(
        - {models: [prose], gates: {json: true}}
        - {models: [json], gates: {json: true}}
        - {models: [strong]}
)",
                           json_object);
  EXPECT_EQ(prose.called, (Models{"prose", "json"}));
  EXPECT_EQ(prose.out.headers["x-switchyard-model"], "json");
  EXPECT_EQ(prose.out.headers["x-switchyard-escalations"], "prose: json (not JSON)");
  // Against a schema, {"city": "Paris"} lacks "country".
  const std::string schema =
      R"(,"response_format":{"type":"json_schema","json_schema":{"name":"place","strict":true,)"
      R"("schema":{"type":"object","properties":{"city":{"type":"string"},"country":{"type":"string"}},)"
      R"("required":["city","country"],"additionalProperties":false}}})";
  auto lacking = run_cascade(R"(
        - {models: [json], gates: {json: true}}
        - {models: [strong]}
)",
                             schema);
  EXPECT_EQ(lacking.out.headers["x-switchyard-escalations"],
            "json: json (schema: $: lacks the required \"country\")");
}

TEST(Cascade, ATierWhoseCallsFailEscalatesAndTheLastTierAnswersWhateverItSays) {
  auto o = run_cascade(R"(
        - {models: [down], gates: {refusal: true}}
        - {models: [refuser]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"down", "refuser"}));
  EXPECT_EQ(o.out.headers["x-switchyard-escalations"], "down: error (upstream_status)");
  EXPECT_NE(o.out.body.find("I'm sorry"), std::string::npos);  // no gate on the last tier
}

TEST(Cascade, WhenTheStagesLeftNoLaterTierTheGatedTiersAnswerIsTheLastWord) {
  // The route's stages left mumbles out: nothing to escalate to, so the refusal is the answer
  // rather than an error.
  auto o = run_cascade(R"(
        - {models: [refuser], gates: {refusal: true}}
        - {models: [mumbles]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"refuser"}));
  EXPECT_EQ(o.out.status, 200);
  EXPECT_NE(o.out.body.find("I'm sorry"), std::string::npos) << o.out.body;
  EXPECT_NE(o.metrics.find(R"(switchyard_gate_results_total{gate="refusal",result="fail",route="auto"} 1)"),
            std::string::npos);
  // Not a 4xx that the gateway's own additions (the logprobs it asked for) may have caused.
  auto refused = run_cascade(R"(
        - {models: [picky], gates: {logprobs: {min_mean_prob: 0.5}}}
        - {models: [mumbles]}
)");
  ASSERT_FALSE(refused.result);
  EXPECT_NE(refused.result.error().status, 400);
  EXPECT_EQ(refused.called, (Models{"picky"}));
}

TEST(Cascade, ALaterTierJudgesAnEarlierTiersAnswerAgainInsteadOfAskingAgain) {
  // b1's answer is too short for tier 0; tier 1 compares it with b2's without asking b1 again.
  auto o = run_cascade(R"(
        - {models: [b1], gates: {min_chars: 100}}
        - {models: [b1, b2], gates: {agreement: {min_share: 1}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"b1", "b2"}));
  EXPECT_EQ(o.costs.size(), 2u);  // billed once each
  EXPECT_EQ(o.out.headers["x-switchyard-model"], "b1");
  EXPECT_EQ(o.out.headers["x-switchyard-tiers"], "2");
  EXPECT_EQ(o.out.headers["x-switchyard-escalations"], "b1: length (shorter than min_chars)");
  // Asked another way (for the logprobs the first asking lacked), it is asked again (and, the
  // fake giving none, escalates again).
  auto again = run_cascade(R"(
        - {models: [b1], gates: {min_chars: 100}}
        - {models: [b1], gates: {logprobs: {min_mean_prob: 0.01}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(again.result);
  EXPECT_EQ(again.called, (Models{"b1", "b1", "strong"}));
  // A tier whose every answer is kept calls nothing.
  auto kept = run_cascade(R"(
        - {models: [b1], gates: {min_chars: 100}}
        - {models: [b1], gates: {agreement: {min_share: 1}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(kept.result);
  EXPECT_EQ(kept.called, (Models{"b1"}));
  EXPECT_EQ(kept.out.headers["x-switchyard-model"], "b1");
  // A 4xx to the logprobs a tier added is not kept: a tier that does not add them asks again.
  auto refused = run_cascade(R"(
        - {models: [picky], gates: {logprobs: {min_mean_prob: 0.5}}}
        - {models: [picky], gates: {refusal: true}}
        - {models: [strong]}
)");
  EXPECT_EQ(refused.called, (Models{"picky", "picky"}));
}

TEST(Cascade, APredictedGateWithoutAPredictionEscalates) {
  // No learned stage predicted b1's quality: the gate cannot vouch for the answer.
  auto o = run_cascade(R"(
        - {models: [b1], gates: {predicted: {cost_weight: 0.5}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"b1", "strong"}));
  EXPECT_EQ(o.out.headers["x-switchyard-escalations"],
            "b1: predicted (no prediction for the model)");
}

TEST(Cascade, AnUpstreams400GoesBackWithoutEscalating) {
  auto o = run_cascade(R"(
        - {models: [picky], gates: {min_chars: 1}}
        - {models: [strong]}
)");
  ASSERT_TRUE(o.result);
  EXPECT_EQ(o.called, (Models{"picky"}));  // the request is at fault: no tier would answer it
  EXPECT_EQ(o.out.status, 400);
}

TEST(Cascade, AStreamGetsTheAcceptedAnswerReplayedOrTheLastTierStreamedThrough) {
  auto early = run_cascade(R"(
        - {models: [b1], gates: {refusal: true}}
        - {models: [strong]}
)",
                           R"(,"stream":true)");
  ASSERT_TRUE(early.result);
  EXPECT_TRUE(early.out.ended);
  ASSERT_GE(early.out.events.size(), 2u);
  EXPECT_NE(early.out.events[0].find(R"("content":"B")"), std::string::npos);
  EXPECT_EQ(early.out.events.back(), "data: [DONE]\n\n");
  auto late = run_cascade(R"(
        - {models: [refuser], gates: {refusal: true}}
        - {models: [strong]}
)",
                          R"(,"stream":true)");
  ASSERT_TRUE(late.result);
  EXPECT_EQ(late.out.headers["x-switchyard-model"], "strong");
  EXPECT_EQ(late.out.headers["x-switchyard-escalations"], "refuser: refusal (matched)");
  ASSERT_FALSE(late.out.events.empty());
  EXPECT_NE(late.out.events[0].find("The answer is B."), std::string::npos);
}

TEST(Cascade, AJudgeGradesTheAnswerAndALowGradeEscalates) {
  auto pass = run_cascade(R"(
        - {models: [b1], gates: {judge: {model: grades-8}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(pass.result);
  EXPECT_EQ(pass.called, (Models{"b1", "grades-8"}));
  EXPECT_EQ(pass.out.headers["x-switchyard-model"], "b1");
  EXPECT_EQ(pass.costs, (std::vector<double>{1e-5, 1e-5}));  // the judge's call is billed too
  // The judge was shown the question and the answer, under its rubric, and asked for little.
  ASSERT_EQ(pass.bodies.size(), 2u);
  const auto judged = nlohmann::json::parse(pass.bodies[1]);
  EXPECT_EQ(judged["model"], "say=8");
  EXPECT_FALSE(judged.contains("stream"));
  EXPECT_EQ(judged["max_tokens"], 16);
  EXPECT_NE(judged["messages"][0]["content"].get<std::string>().find("Reply with only a whole"),
            std::string::npos);
  EXPECT_EQ(judged["messages"][1]["content"], "<question>\nx\n</question>\n<answer>\nB\n</answer>");
  EXPECT_NE(pass.metrics.find(R"(switchyard_gate_results_total{gate="judge",result="pass",route="auto"} 1)"),
            std::string::npos);

  auto low = run_cascade(R"(
        - {models: [b1], gates: {judge: {model: grades-3}}}
        - {models: [strong]}
)");
  ASSERT_TRUE(low.result);
  EXPECT_EQ(low.called, (Models{"b1", "grades-3", "strong"}));
  EXPECT_EQ(low.out.headers["x-switchyard-escalations"], "b1: judge (score 3 of 10, below 7)");
  auto lenient = run_cascade(R"(
        - {models: [b1], gates: {judge: {model: grades-3, min_score: 3}}}
        - {models: [strong]}
)");
  EXPECT_EQ(lenient.out.headers["x-switchyard-model"], "b1");
  // A judge that cannot grade passes nothing: one that gives no number, one that is down.
  auto vague = run_cascade(R"(
        - {models: [b1], gates: {judge: {model: mumbles}}}
        - {models: [strong]}
)");
  EXPECT_EQ(vague.out.headers["x-switchyard-escalations"], "b1: judge (the judge's reply has no score from 0 to 10)");
  auto down = run_cascade(R"(
        - {models: [b1], gates: {judge: {model: down}}}
        - {models: [strong]}
)");
  EXPECT_EQ(down.called, (Models{"b1", "down", "strong"}));
  EXPECT_EQ(down.out.headers["x-switchyard-model"], "strong");
  EXPECT_EQ(down.out.headers["x-switchyard-escalations"].find("b1: judge (judge failed: "), 0u);
}

TEST(Cascade, TheJudgeRunsOnlyWhenItsGradeCanDecide) {
  // Mode all: a refusal fails the tier before the judge is asked.
  auto all = run_cascade(R"(
        - {models: [refuser], gates: {refusal: true, judge: {model: grades-8}}}
        - {models: [strong]}
)");
  EXPECT_EQ(all.called, (Models{"refuser", "strong"}));
  // Mode any: the judge is asked only when every other gate failed, and its pass is enough.
  auto any = run_cascade(R"(
        - {models: [refuser], gates: {mode: any, refusal: true, judge: {model: grades-8}}}
        - {models: [strong]}
)");
  EXPECT_EQ(any.called, (Models{"refuser", "grades-8"}));
  EXPECT_EQ(any.out.headers["x-switchyard-model"], "refuser");
  auto passed = run_cascade(R"(
        - {models: [b1], gates: {mode: any, refusal: true, judge: {model: grades-3}}}
        - {models: [strong]}
)");
  EXPECT_EQ(passed.called, (Models{"b1"}));
}

TEST(Cascade, CodeThatFailsTheValidatorEscalates) {
  // The validator (sh, which every machine has) wants a function definition.
  constexpr const char* kGate = R"(gates: {code: {command: [sh, -c, 'grep -q "def " "$0"', '{file}']}})";
  auto bad = run_cascade("        - {models: [scribbler], " + std::string(kGate) + "}\n" +
                         "        - {models: [strong]}\n");
  ASSERT_TRUE(bad.result);
  EXPECT_EQ(bad.called, (Models{"scribbler", "strong"}));
  EXPECT_EQ(bad.out.headers["x-switchyard-escalations"], "scribbler: code (exit 1)");
  EXPECT_NE(bad.metrics.find(R"(switchyard_gate_results_total{gate="code",result="fail",route="auto"} 1)"),
            std::string::npos);
  auto good = run_cascade("        - {models: [coder], " + std::string(kGate) + "}\n" +
                          "        - {models: [strong]}\n");
  EXPECT_EQ(good.called, (Models{"coder"}));
  EXPECT_EQ(good.out.headers["x-switchyard-model"], "coder");
}

TEST(Cascade, GatesMayDifferByTheCallersTierAndWhenTheNextTierIsBusy) {
  const std::string tiers = R"(
        - models: [refuser]
          gates: {refusal: true}
          gates_by_caller: {free: {min_chars: 1}}
          under_load: {at: 0.75, gates: {min_chars: 1}}
        - {models: [strong]}
)";
  auto standard = run_cascade(tiers);
  EXPECT_EQ(standard.out.headers["x-switchyard-model"], "strong");
  Caller free;
  free.tier = "free";
  auto cheap = run_cascade(tiers, {}, free);  // a free caller gets the refusal
  EXPECT_EQ(cheap.called, (Models{"refuser"}));
  // With strong's upstream at 200 of 256 calls, past 0.75, the tier accepts more.
  auto busy = run_cascade(tiers, {}, {}, 200);
  EXPECT_EQ(busy.called, (Models{"refuser"}));
  auto calm = run_cascade(tiers, {}, {}, 150);
  EXPECT_EQ(calm.called, (Models{"refuser", "strong"}));
}

TEST(Cascade, ConfigErrorsNameThePath) {
  Metrics metrics;
  auto error = [&](const std::string& tiers) { return snapshot_error(metrics, config(tiers)); };
  EXPECT_EQ(error("        - {models: [b1], gates: {refusal: true}}\n"),
            "routes.auto.dispatcher.tiers: expected a list of at least two tiers");
  EXPECT_EQ(error("        - {models: [b1]}\n        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates: is required on every tier but the last: what "
            "makes it escalate?");
  EXPECT_EQ(error("        - {models: [b1], gates: {refusal: true}}\n"
                  "        - {models: [strong], gates: {refusal: true}}\n"),
            "routes.auto.dispatcher.tiers[1].gates: the last tier's answer is returned whatever "
            "it says: it takes no gates");
  EXPECT_EQ(error("        - {models: [nope], gates: {refusal: true}}\n        - {models: [strong]}\n")
                .find("routes.auto.dispatcher.tiers[0].models[0]: unknown model \"nope\""),
            0u);
  EXPECT_EQ(error("        - {models: [b1], gates: {}}\n        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates: names no gate");
  EXPECT_EQ(error("        - {models: [b1], gates: {regex: '('}}\n        - {models: [strong]}\n")
                .find("routes.auto.dispatcher.tiers[0].gates.regex: not a valid RE2 pattern"),
            0u);
  EXPECT_EQ(error("        - {models: [b1], gates: {refusl: true}}\n        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.refusl: unknown key");
  EXPECT_EQ(error("        - {models: [b1], gates: {logprobs: {}}}\n        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.logprobs: needs min_mean_prob or "
            "min_token_prob");
  EXPECT_EQ(error("        - {models: [b1], gates: {logprobs: {min_mean_prob: 1.5}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.logprobs.min_mean_prob: must be a "
            "probability, 0 to 1");
  EXPECT_EQ(error("        - {models: [b1], gates: {judge: {model: grades-8, min_score: 11}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.judge.min_score: must be a score from 0 to 10");
  EXPECT_EQ(error("        - {models: [b1], gates: {judge: {min_score: 5}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.judge.model: is required");
  EXPECT_EQ(error("        - {models: [b1], gates: {refusal: true}, under_load: {at: 2, gates: {}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].under_load.at: must be a share of max_concurrent, "
            "above 0 and at most 1");
  EXPECT_EQ(error("        - {models: [b1], gates: {refusal: true}, "
                  "gates_by_caller: {free: {nope: 1}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates_by_caller.free.nope: unknown key");
  EXPECT_EQ(error("        - {models: [b1], gates: {agreement: {samples: 17}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.agreement.samples: must be from 1 to 16");
  EXPECT_EQ(error("        - {models: [b1], gates: {similar: {model: embed}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.similar.references: expected a list of "
            "{question, answer}");
  EXPECT_EQ(error("        - {models: [b1], gates: {similar: {model: nope, references: "
                  "[{question: q, answer: a}], min_answer: 2}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.similar.min_answer: must be a cosine "
            "similarity, -1 to 1");
  EXPECT_EQ(error("        - {models: [b1], gates: {predicted: {cost_weight: -1}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.predicted.cost_weight: expected a non-negative "
            "number, got \"-1\"");
  EXPECT_EQ(error("        - {models: [b1], gates: {predicted: {}}}\n"
                  "        - {models: [strong]}\n"),
            "routes.auto.dispatcher.tiers[0].gates.predicted.cost_weight: is required");
}

}  // namespace
}  // namespace switchyard::test
