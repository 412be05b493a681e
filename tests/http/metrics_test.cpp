#include "authd/http/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace authd::http {
namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(Metrics, MethodsAClientMadeUpShareOneSeries) {
  Metrics m;
  for (int i = 0; i < 100; ++i) m.ObserveRequest("unmatched", "X" + std::to_string(i), 404, 0.001);
  m.ObserveRequest("unmatched", "GET", 404, 0.001);
  const std::string text = m.Render();
  EXPECT_NE(text.find("authd_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 100"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("authd_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_EQ(text.find("X1"), std::string::npos);
}

TEST(Metrics, ConcurrentObservationsAreAllCounted) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 1000; ++i) {
        m.ObserveRequest(t % 2 ? "/a" : "/b", "POST", 200, 0.0001);
        m.ObserveAuthentication("totp", t % 2 ? "success" : "failure");
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.Render();
  EXPECT_NE(text.find("authd_http_requests_total{method=\"POST\",route=\"/a\",status=\"200\"} 2000"), std::string::npos)
      << text;
  EXPECT_NE(text.find("authd_http_requests_total{method=\"POST\",route=\"/b\",status=\"200\"} 2000"), std::string::npos);
  EXPECT_NE(text.find("authd_authentications_total{factor=\"totp\",result=\"success\"} 2000"), std::string::npos);
  EXPECT_NE(text.find("authd_authentications_total{factor=\"totp\",result=\"failure\"} 2000"), std::string::npos);
  EXPECT_EQ(Count(text, "authd_http_request_duration_seconds_count{"), 2u);
}

}  // namespace
}  // namespace authd::http
