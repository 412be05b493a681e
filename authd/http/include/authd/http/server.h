// The Poco::Net adapter: bounded requests in, security headers out, metrics and access logs.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "authd/base/result.h"
#include "authd/http/metrics.h"
#include "authd/http/router.h"

namespace authd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 16;
  int max_queued = 64;
  int request_timeout_seconds = 10;
  int64_t max_body = 64 * 1024;
  std::string tls_cert;  // HTTPS when both are set
  std::string tls_key;
};

// Start() once, Stop() once; port() after Start(). Thread-safe otherwise (Poco's threads call in).
class HttpServer {
 public:
  HttpServer(const Router& router, Metrics& metrics, ServerOptions options);
  ~HttpServer();

  // Binds and starts serving. kInvalidArgument with the reason (address in use, bad TLS files).
  Status Start();
  uint16_t port() const;
  // Stops accepting, lets requests in flight finish (up to `grace`), then closes everything.
  void Stop(std::chrono::milliseconds grace);
  int in_flight() const;

  struct Impl;  // the Poco side; public only so the adapter's classes can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace authd::http
