// Prometheus metrics: requests by route and status, latency histograms by route, and
// authentication outcomes by factor and result. Thread-safe.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace authd::http {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  void ObserveRequest(const std::string& route, const std::string& method, int status, double seconds);
  // factor: webauthn | totp | yubiotp | ykval | client | bearer; result: success or an error code.
  void ObserveAuthentication(const std::string& factor, const std::string& result);
  void ObserveRefusedConnection();
  // Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace authd::http
