#include "authd/http/metrics.h"

#include <mutex>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace authd::http {

struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests = prometheus::BuildCounter()
      .Name("authd_http_requests_total").Help("HTTP requests by route, method and status").Register(registry);
  prometheus::Family<prometheus::Histogram>& latency = prometheus::BuildHistogram()
      .Name("authd_http_request_duration_seconds").Help("HTTP request latency by route").Register(registry);
  prometheus::Family<prometheus::Counter>& auths = prometheus::BuildCounter()
      .Name("authd_authentications_total").Help("Authentication attempts by factor and result").Register(registry);
  prometheus::Family<prometheus::Counter>& refused = prometheus::BuildCounter()
      .Name("authd_http_refused_connections_total").Help("Connections refused because every worker was busy")
      .Register(registry);
  // The series of each (route, method, status), looked up once: prometheus-cpp hashes every
  // label map on Add, which cost more than the request it counts.
  std::mutex mu;
  std::unordered_map<std::string, std::pair<prometheus::Counter*, prometheus::Histogram*>> series;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                                   0.025,  0.05,  0.1,    0.25,  1.0};
  std::string key = route;
  key.push_back('\0');
  key += method;
  key.push_back('\0');
  key += std::to_string(status);
  std::pair<prometheus::Counter*, prometheus::Histogram*> s{nullptr, nullptr};
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->series.find(key);
    if (it == impl_->series.end()) {
      s.first = &impl_->requests.Add({{"route", route}, {"method", method}, {"status", std::to_string(status)}});
      s.second = &impl_->latency.Add({{"route", route}}, kBuckets);
      impl_->series.emplace(std::move(key), s);
    } else {
      s = it->second;
    }
  }
  s.first->Increment();
  s.second->Observe(seconds);
}

void Metrics::ObserveAuthentication(const std::string& factor, const std::string& result) {
  impl_->auths.Add({{"factor", factor}, {"result", result}}).Increment();
}

void Metrics::ObserveRefusedConnection() { impl_->refused.Add({}).Increment(); }

std::string Metrics::Render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry.Collect());
}

}  // namespace authd::http
