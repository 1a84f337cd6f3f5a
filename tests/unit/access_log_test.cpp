// The access log's line, byte for byte, in both formats: escaping, numbers and optional parts.
#include "server/access_log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace switchyard {
namespace {

AccessRecord record() {
  AccessRecord r;
  r.request_id = "r1";
  r.client = "team \"a\"\x01";
  r.route = "auto";
  r.model = "gpt";
  r.upstream = "openai";
  r.status = 200;
  r.attempts = 2;
  r.usage = Usage{250, 9, true};
  r.cost_usd = 1.1e-05;
  r.duration = std::chrono::microseconds(12'346);
  return r;  // ttft: none (-1)
}

TEST(AccessLog, JsonLineEscapesNamesAndIsValidJson) {
  std::string line;
  AccessRecord r = record();
  r.decision = R"({"stage":"x"})";
  format_access_line(r, true, line);
  EXPECT_EQ(line,
            R"({"request_id":"r1","client":"team \"a\"\u0001","route":"auto","model":"gpt",)"
            R"("upstream":"openai","status":200,"attempts":2,"input_tokens":250,)"
            R"("output_tokens":9,"usage":"reported","cost_usd":0.00001100,"latency_ms":12.35,)"
            R"("ttft_ms":-1.00,"error":"","decision":{"stage":"x"}})"
            "\n");
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["client"], "team \"a\"\x01");
}

TEST(AccessLog, TextLineDashesWhatIsMissing) {
  std::string line;
  AccessRecord r = record();
  r.client = r.model = r.upstream = {};
  r.usage = Usage{};
  r.error = "timeout_total";
  r.status = 504;
  r.ttft = std::chrono::milliseconds(3);
  format_access_line(r, false, line);
  EXPECT_EQ(line,
            "access request_id=r1 client=- route=auto model=- upstream=- status=504 attempts=2 "
            "input_tokens=0 output_tokens=0 usage=none cost_usd=0.00001100 latency_ms=12.35 "
            "ttft_ms=3.00 error=timeout_total\n");
}

}  // namespace
}  // namespace switchyard
