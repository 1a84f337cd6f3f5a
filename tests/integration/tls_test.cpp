// An HTTPS upstream with a self-signed certificate made by the openssl CLI for this test.
#include "support/fixture.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

namespace switchyard::test {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = (dir_.path() / "cert.pem").string();
    key_ = (dir_.path() / "key.pem").string();
    auto cmd = fmt::format(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout {} -out {} -days 1 -subj "
        "/CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
        key_, cert_);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI failed";
    SimOptions o;
    o.tls_cert_file = cert_;
    o.tls_key_file = key_;
    sim_ = start_sim(o);
    ASSERT_TRUE(sim_);
  }

  std::string config(const std::string& host, const std::string& tls) const {
    return fmt::format(R"(upstreams:
  - name: secure
    base_url: https://{}:{}/v1
    tls: {}
    models:
      - name: m
        id: "m;tokens=3"
)",
                       host, sim_->port(), tls);
  }

  TempDir dir_;
  std::string cert_, key_;
  std::unique_ptr<SimServer> sim_;
};

TEST_F(TlsTest, VerifiesAgainstConfiguredCaWithSniAndHostName) {
  GatewayUnderTest gw(config("localhost", fmt::format("{{ca_file: \"{}\"}}", cert_)));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto s = read_sse(gw.port(), chat_body("m", R"("stream":true)"));
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.events.back(), "[DONE]");
  // TLS connections are pooled too: a handshake per request would cost milliseconds each.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_LE(sim_->stats().connections.load(), 4u);  // two workers, a couple each at most
}

TEST_F(TlsTest, UntrustedCertificateIsRejected) {
  // The system CAs do not know our self-signed certificate.
  GatewayUnderTest gw(config("localhost", "{}"));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["code"], "tls");
}

TEST_F(TlsTest, HostNameMismatchIsRejected) {
  // Trusted CA, but the certificate names localhost and 127.0.0.1, not 127.0.0.2.
  SimOptions o;
  o.listen = "127.0.0.2:0";
  o.tls_cert_file = cert_;
  o.tls_key_file = key_;
  auto other = start_sim(o);
  ASSERT_TRUE(other);
  GatewayUnderTest gw(fmt::format(R"(upstreams:
  - name: secure
    base_url: https://127.0.0.2:{}/v1
    tls: {{ca_file: "{}"}}
    models:
      - name: m
)",
                                  other->port(), cert_));
  auto r = post_json(gw.port(), "/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["code"], "tls");
}

TEST_F(TlsTest, InsecureSkipVerifyIsExplicit) {
  GatewayUnderTest gw(config("localhost", "{insecure_skip_verify: true}"));
  EXPECT_EQ(post_json(gw.port(), "/v1/chat/completions", chat_body("m")).status, 200);
}

}  // namespace
}  // namespace switchyard::test
