#include "authd/http/metrics.h"

#include <mutex>
#include <shared_mutex>
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
  // The series of each (route, method, status) and each (factor, result), looked up once:
  // prometheus-cpp hashes every label map on Add, which cost more than the request it counts.
  // Request threads only read the maps (a shared lock); a new series takes the lock alone.
  std::shared_mutex mu;
  std::unordered_map<std::string, std::pair<prometheus::Counter*, prometheus::Histogram*>> series;
  std::unordered_map<std::string, prometheus::Counter*> auth_series;
};

namespace {

// The value kept for `key`, made by `make` (under the lock held alone) the first time.
template <typename V, typename Make>
V FindOrAdd(std::shared_mutex& mu, std::unordered_map<std::string, V>& map, std::string key, Make make) {
  {
    std::shared_lock lock(mu);
    if (auto it = map.find(key); it != map.end()) return it->second;
  }
  std::lock_guard lock(mu);
  if (auto it = map.find(key); it != map.end()) return it->second;
  V value = make();
  map.emplace(std::move(key), value);
  return value;
}

// The method as a label: the standard ones by name, any other (clients choose the token freely)
// as "other", so that a client cannot grow the set of series without bound.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (std::string_view known : kKnown) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                                   0.025,  0.05,  0.1,    0.25,  1.0};
  const std::string_view label = MethodLabel(method);
  std::string key = route;
  key.push_back('\0');
  key += label;
  key.push_back('\0');
  key += std::to_string(status);
  const auto s = FindOrAdd(impl_->mu, impl_->series, std::move(key), [&] {
    return std::make_pair(&impl_->requests.Add({{"route", route}, {"method", std::string(label)}, {"status", std::to_string(status)}}),
                          &impl_->latency.Add({{"route", route}}, kBuckets));
  });
  s.first->Increment();
  s.second->Observe(seconds);
}

void Metrics::ObserveAuthentication(const std::string& factor, const std::string& result) {
  std::string key = factor;
  key.push_back('\0');
  key += result;
  prometheus::Counter* counter = FindOrAdd(impl_->mu, impl_->auth_series, std::move(key), [&] {
    return &impl_->auths.Add({{"factor", factor}, {"result", result}});
  });
  counter->Increment();
}

void Metrics::ObserveRefusedConnection() { impl_->refused.Add({}).Increment(); }

std::string Metrics::Render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry.Collect());
}

}  // namespace authd::http
