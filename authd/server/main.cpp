// authd: the hardware-token authentication service.

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "authd/base/log.h"
#include "authd/http/api.h"
#include "authd/http/server.h"
#include "authd/runtime/runtime.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// The file of the library this process's malloc comes from (libtcmalloc_minimal.so.4 in the
// default build, libc.so.6 without it): logged at start, so that what runs is what was meant.
std::string AllocatorLibrary() {
  void* (*const allocate)(size_t) = &std::malloc;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(allocate), &info) == 0 || info.dli_fname == nullptr) return "unknown";
  const std::string file = info.dli_fname;
  return file.substr(file.rfind('/') + 1);
}

void PrintHelp() {
  std::printf(
      "Usage: authd [--config FILE] [--check-config]\n"
      "\n"
      "Serves the authd HTTP API (see docs/ and the README). With no configuration it listens on\n"
      "127.0.0.1:8080 with a SQLite database at ./authd.db and creates its master key and signing key\n"
      "on first start.\n"
      "\n"
      "Options:\n"
      "  --config FILE    read settings from FILE (lines of key = value)\n"
      "  --check-config   print the effective configuration and exit\n"
      "  --help           show this text\n"
      "  --version        print the version\n"
      "\n"
      "Settings (file key, or environment variable AUTHD_<KEY>, which wins):\n");
  for (const auto& s : authd::runtime::Settings()) std::printf("  %-22s %s\n", s.key, s.help);
}

authd::LogLevel LevelFrom(const std::string& s) {
  if (s == "debug") return authd::LogLevel::kDebug;
  if (s == "warn") return authd::LogLevel::kWarn;
  if (s == "error") return authd::LogLevel::kError;
  return authd::LogLevel::kInfo;
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "authd: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      PrintHelp();
      return 0;
    } else if (a == "--version") {
      std::printf("authd %s\n", kVersion);
      return 0;
    } else if (a == "--config" && i + 1 < argc) {
      config_file = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_file = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else {
      std::fprintf(stderr, "authd: unknown argument \"%s\"; see authd --help\n", a.c_str());
      return 2;
    }
  }

  auto config = authd::runtime::LoadConfig(config_file, authd::runtime::ProcessEnvironment());
  if (!config) return Fail(config.error().detail);
  authd::SetLogLevel(LevelFrom(config->log_level));
  if (check_only) {
    std::printf("listen = %s\ndb = %s\nrp_id = %s\norigins = %s\nissuer = %s\naudience = %s\ntoken_ttl = %lld\n"
                "token_alg = %s\ntls = %s\nmaster_key_file = %s\n",
                config->listen().c_str(), config->db.c_str(), config->rp_id.c_str(),
                authd::domain::JoinList(config->origins).c_str(), config->issuer.c_str(), config->audience.c_str(),
                static_cast<long long>(config->token_ttl), config->token_alg.c_str(), config->tls() ? "on" : "off",
                config->master_key_file.c_str());
    return 0;
  }

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto rt = authd::runtime::OpenRuntime(*config);
  if (!rt) return Fail(rt.error().detail);
  auto& runtime = *rt.value();

  authd::http::Metrics metrics;
  authd::http::Router router;
  authd::http::Api api{*runtime.core, metrics,
                       authd::http::ApiSettings{config->issuer, config->rp_id, config->rp_name, config->origins,
                                                config->token_alg, config->ceremony_ttl},
                       runtime.webauthn.get(), runtime.otp.get()};
  authd::http::RateLimiter limiter(config->rate_limit);
  api.limiter = &limiter;
  authd::http::RegisterAllRoutes(router, api);

  authd::http::ServerOptions options;
  options.host = config->listen_host;
  options.port = config->listen_port;
  options.threads = static_cast<int>(config->threads);
  options.max_queued = static_cast<int>(config->max_queued);
  options.request_timeout_seconds = static_cast<int>(config->request_timeout);
  options.max_body = config->max_body;
  options.tls_cert = config->tls_cert;
  options.tls_key = config->tls_key;
  authd::http::HttpServer server(router, metrics, options);
  if (auto s = server.Start(); !s) return Fail(s.error().detail);

  // Expired token records and used ceremony ids are deleted in the background, every minute, in
  // small transactions (Core::PurgeExpired): a minute's worth of rows at a time keeps each purge
  // short, and no request's write waits behind more than one small transaction of it.
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> stopping{false};
  std::thread purger([&] {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::minutes(1), [&] { return stopping.load(); })) {
      lock.unlock();
      // A pause between two of its transactions leaves the cores to requests: at most 500 rows
      // per 2 ms is still far more than any login rate adds.
      auto n = runtime.core->PurgeExpired(authd::domain::Core::kPurgeChunk, [&] {
        std::unique_lock pause(mu);
        return !cv.wait_for(pause, std::chrono::milliseconds(2), [&] { return stopping.load(); });
      });
      if (n && *n > 0) authd::Log(authd::LogLevel::kInfo, "expired_purged", {{"count", *n}});
      lock.lock();
    }
  });

  authd::Log(authd::LogLevel::kInfo, "ready",
             {{"version", kVersion}, {"allocator", AllocatorLibrary()}, {"store", runtime.store->Describe()}, {"issuer", config->issuer},
              {"url", std::string(config->tls() ? "https://" : "http://") + config->listen_host + ":" +
                          std::to_string(server.port())}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  authd::Log(authd::LogLevel::kInfo, "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                                  {"in_flight", server.in_flight()}});
  server.Stop(std::chrono::seconds(10));
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  purger.join();
  authd::Log(authd::LogLevel::kInfo, "stopped");
  return 0;
}
