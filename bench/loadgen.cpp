// authd's load generator: keep-alive HTTP/1.1 connections against a running authd, a warm-up,
// then a fixed measured window, closed-loop (as fast as answers come) or open-loop at a target
// rate (latency counted from each request's scheduled time, so a stalled server is not hidden).
// Reports requests/s, latency percentiles from a log-bucketed histogram (under 1% error), errors
// by status, and the server's CPU time per request and peak RSS read from /proc.
//
//   loadgen --port 8080 --scenario introspect --client-id ID --client-secret S --token T
//           [--connections 8] [--warmup 2] [--duration 10] [--rate 0] [--server-pid PID] [--json]
//
// Scenarios: jwks (GET /.well-known/jwks.json), introspect (POST /v1/tokens/introspect with HTTP
// Basic client authentication), healthz, webauthn-login (options + verify with a fresh ES256
// signature from a software key per connection; --admin-token enrols the users first).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "webauthn/test_authenticator.h"

namespace {

using Clock = std::chrono::steady_clock;

// Log-linear histogram of nanoseconds: 128 sub-buckets per power of two.
class Histogram {
 public:
  void Record(int64_t ns) {
    if (ns < 1) ns = 1;
    const int e = 63 - __builtin_clzll(static_cast<uint64_t>(ns));
    const int shift = std::max(0, e - 7);
    const size_t idx = static_cast<size_t>(e) * 128 + static_cast<size_t>((ns >> shift) & 127);
    if (idx >= counts_.size()) counts_.resize(idx + 1);
    ++counts_[idx];
    ++total_;
  }
  void Merge(const Histogram& o) {
    if (o.counts_.size() > counts_.size()) counts_.resize(o.counts_.size());
    for (size_t i = 0; i < o.counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
  }
  // The value at quantile q (0..1), in nanoseconds (the bucket's lower bound).
  double Quantile(double q) const {
    const uint64_t want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want && counts_[i]) {
        const int e = static_cast<int>(i / 128);
        const int64_t m = static_cast<int64_t>(i % 128);
        const int shift = std::max(0, e - 7);
        return e < 7 ? static_cast<double>(m) : static_cast<double>((128 + m) << shift);
      }
    }
    return 0;
  }
  uint64_t total() const { return total_; }

 private:
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(64 * 128, 0);
  uint64_t total_ = 0;
};

struct Options {
  int port = 8080;
  std::string scenario = "introspect";
  std::string client_id, client_secret, token;
  int connections = 8;
  double warmup = 2, duration = 10, rate = 0;
  int server_pid = 0;
  bool json = false;
  std::string admin_token;                         // webauthn-login: creates the users
  std::string origin = "http://localhost:8080";    // webauthn-login: the origin the keys claim
};

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string Request(const Options& o) {
  if (o.scenario == "jwks") return "GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (o.scenario == "healthz") return "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string body = "token=" + o.token;
  return "POST /v1/tokens/introspect HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " +
         Base64(o.client_id + ":" + o.client_secret) +
         "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads one HTTP response (Content-Length bodies); returns the status, or -1. `close` says the
// server ends the connection after it (Connection: close, e.g. at its keep-alive request limit).
int ReadResponse(int fd, std::string& buf, bool& close, std::string* body = nullptr) {
  while (true) {
    const size_t head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const int status = std::atoi(buf.c_str() + 9);
      const size_t conn = buf.find("Connection: close");
      close = conn != std::string::npos && conn < head_end;
      size_t length = 0;
      const size_t cl = buf.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end) length = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= head_end + 4 + length) {
        if (body) body->assign(buf, head_end + 4, length);
        buf.erase(0, head_end + 4 + length);
        return status;
      }
    }
    char tmp[16384];
    const ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) return -1;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

struct ProcSample {
  double cpu_seconds = 0;
  long peak_rss_kib = 0;
};

ProcSample Sample(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close_paren = line.rfind(')');
  std::istringstream rest(line.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) s.peak_rss_kib = std::atol(line.c_str() + 6);
  }
  return s;
}

std::string Post(const std::string& path, const std::string& body, const std::string& bearer = {}) {
  std::string r = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n";
  if (!bearer.empty()) r += "Authorization: Bearer " + bearer + "\r\n";
  return r + "\r\n" + body;
}

// One request on `fd`; the status, the JSON body in `out`.
int Exchange(int fd, std::string& buf, const std::string& request, authd::Json& out, bool& close) {
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) return -1;
  std::string body;
  const int status = ReadResponse(fd, buf, close, &body);
  auto parsed = authd::ParseJsonStrict(body);
  out = parsed ? std::move(*parsed) : authd::Json();
  return status;
}

class Ceremonies {
 public:
  Ceremonies(const Options& o, int index) : o_(o) {
    username_ = "bench" + std::to_string(index) + "-" + authd::HexEncode(authd::RandomBytes(4));
    key_.origin = o.origin;
  }

  bool Enrol() {
    const int fd = Connect(o_.port);
    std::string buf;
    bool close_after = false;
    authd::Json j;
    auto fail = [&](const char* step, int status) {
      std::fprintf(stderr, "loadgen: enrolling %s failed at %s (HTTP %d): %s\n", username_.c_str(), step, status,
                   authd::DumpJson(j).c_str());
      close(fd);
      return false;
    };
    int st = Exchange(fd, buf, Post("/v1/admin/users", authd::DumpJson({{"username", username_}}), o_.admin_token), j,
                      close_after);
    if (st != 201) return fail("user", st);
    st = Exchange(fd, buf, Post("/v1/admin/users/" + username_ + "/enrollment-codes", "{}", o_.admin_token), j, close_after);
    if (st != 201) return fail("enrolment code", st);
    const std::string code = j.value("enrollment_code", "");
    st = Exchange(fd, buf, Post("/v1/webauthn/registration/options",
                               authd::DumpJson({{"username", username_}, {"enrollment_code", code}})),
                  j, close_after);
    if (st != 200) return fail("registration options", st);
    key_.rp_id = j["publicKey"]["rp"]["id"].get<std::string>();
    const authd::Bytes challenge = *authd::Base64UrlDecode(j["publicKey"]["challenge"].get<std::string>());
    auto reg = key_.Register(challenge, key_.NewRegistration());
    const std::string id = authd::Base64UrlEncode(key_.credential_id);
    authd::Json verify = {{"ceremony", j["ceremony"]},
                          {"credential",
                           {{"id", id}, {"rawId", id}, {"type", "public-key"},
                            {"response", {{"clientDataJSON", authd::Base64UrlEncode(reg.client_data_json)},
                                          {"attestationObject", authd::Base64UrlEncode(reg.attestation_object)}}},
                            {"clientExtensionResults", authd::Json::object()}}}};
    st = Exchange(fd, buf, Post("/v1/webauthn/registration/verify", authd::DumpJson(verify)), j, close_after);
    if (st != 201) return fail("registration verify", st);
    close(fd);
    return true;
  }

  // One login ceremony on `fd`: 200 when a token came back.
  int Login(int fd, std::string& buf, bool& close_after) {
    authd::Json j;
    int st = Exchange(fd, buf, Post("/v1/webauthn/authentication/options", "{\"username\":\"" + username_ + "\"}"), j,
                      close_after);
    if (st != 200 || close_after) return st;
    const authd::Bytes challenge = *authd::Base64UrlDecode(j["publicKey"]["challenge"].get<std::string>());
    auto a = key_.Assert(challenge, key_.NewAssertion());
    const std::string id = authd::Base64UrlEncode(key_.credential_id);
    authd::Json verify = {{"ceremony", j["ceremony"]},
                          {"credential",
                           {{"id", id}, {"rawId", id}, {"type", "public-key"},
                            {"response", {{"clientDataJSON", authd::Base64UrlEncode(a.client_data_json)},
                                          {"authenticatorData", authd::Base64UrlEncode(a.authenticator_data)},
                                          {"signature", authd::Base64UrlEncode(a.signature)}}},
                            {"clientExtensionResults", authd::Json::object()}}}};
    return Exchange(fd, buf, Post("/v1/webauthn/authentication/verify", authd::DumpJson(verify)), j, close_after);
  }

 private:
  const Options& o_;
  std::string username_;
  authd::webauthn::testing::TestAuthenticator key_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loadgen: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") o.port = std::stoi(next());
    else if (a == "--scenario") o.scenario = next();
    else if (a == "--client-id") o.client_id = next();
    else if (a == "--client-secret") o.client_secret = next();
    else if (a == "--token") o.token = next();
    else if (a == "--connections") o.connections = std::stoi(next());
    else if (a == "--warmup") o.warmup = std::stod(next());
    else if (a == "--duration") o.duration = std::stod(next());
    else if (a == "--rate") o.rate = std::stod(next());
    else if (a == "--server-pid") o.server_pid = std::stoi(next());
    else if (a == "--json") o.json = true;
    else if (a == "--admin-token") o.admin_token = next();
    else if (a == "--origin") o.origin = next();
    else {
      std::fprintf(stderr, "loadgen: unknown option %s (see the comment at the top of bench/loadgen.cpp)\n", a.c_str());
      return 2;
    }
  }
  if (o.scenario != "jwks" && o.scenario != "introspect" && o.scenario != "healthz" && o.scenario != "webauthn-login") {
    std::fprintf(stderr, "loadgen: unknown scenario %s (jwks, introspect, healthz, webauthn-login)\n", o.scenario.c_str());
    return 2;
  }
  // webauthn-login: one user and one software key (ES256) per connection, enrolled through the
  // real API; each operation is a whole ceremony, options and verify, with a fresh signature.
  std::vector<std::unique_ptr<Ceremonies>> keys;
  if (o.scenario == "webauthn-login") {
    for (int c = 0; c < o.connections; ++c) {
      auto k = std::make_unique<Ceremonies>(o, c);
      if (!k->Enrol()) return 1;
      keys.push_back(std::move(k));
    }
  }
  const std::string request = Request(o);
  std::atomic<bool> measuring{false}, stop{false};
  std::mutex mu;
  Histogram total;
  std::map<int, uint64_t> statuses;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      Histogram h;
      std::map<int, uint64_t> st;
      int fd = Connect(o.port);
      int64_t served = 0;  // responses on the current connection
      std::string buf;
      const double per_conn_rate = o.rate > 0 ? o.rate / o.connections : 0;
      auto next_send = start + std::chrono::nanoseconds(static_cast<int64_t>(c * (per_conn_rate > 0 ? 1e9 / o.rate : 0)));
      while (!stop) {
        if (fd < 0) {
          fd = Connect(o.port);
          served = 0;
          if (fd < 0) {
            if (measuring) ++st[-1];  // the server refused a new connection
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
          }
        }
        auto scheduled = Clock::now();
        if (per_conn_rate > 0) {
          std::this_thread::sleep_until(next_send);
          scheduled = next_send;
          next_send += std::chrono::nanoseconds(static_cast<int64_t>(1e9 / per_conn_rate));
        }
        bool server_closes = false;
        int status = 0;
        if (!keys.empty()) {
          status = keys[static_cast<size_t>(c)]->Login(fd, buf, server_closes);
        } else {
          if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
            close(fd);
            fd = -1;
            served = 0;
            continue;
          }
          status = ReadResponse(fd, buf, server_closes);
        }
        const auto done = Clock::now();
        if (status < 0 || server_closes) {
          close(fd);
          fd = -1;
          buf.clear();
        }
        // A kept-alive connection the server closed at its request limit is reopened and the
        // request sent again; only a fresh connection that fails counts as an error.
        if (status < 0 && served > 0) {
          served = 0;
          continue;
        }
        ++served;
        if (measuring) {
          h.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(done - scheduled).count());
          ++st[status];
        }
      }
      if (fd >= 0) close(fd);
      std::lock_guard<std::mutex> lock(mu);
      total.Merge(h);
      for (const auto& [k, v] : st) statuses[k] += v;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  const ProcSample before = Sample(o.server_pid);
  const auto t0 = Clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
  measuring = false;
  const auto t1 = Clock::now();
  const ProcSample after = Sample(o.server_pid);
  stop = true;
  for (auto& t : threads) t.join();

  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  const double n = static_cast<double>(total.total());
  const double rps = n / seconds;
  const double cpu_us = o.server_pid > 0 && n > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / n : 0;
  uint64_t errors = 0;
  std::string status_text;
  for (const auto& [k, v] : statuses) {
    if (k != 200) errors += v;
    status_text += (status_text.empty() ? "" : ", ") + std::to_string(k) + ": " + std::to_string(v);
  }
  if (o.json) {
    std::printf("{\"scenario\":\"%s\",\"connections\":%d,\"rate\":%.0f,\"seconds\":%.3f,\"requests\":%.0f,"
                "\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
                "\"errors\":%llu,\"server_cpu_us_per_request\":%.2f,\"server_peak_rss_kib\":%ld}\n",
                o.scenario.c_str(), o.connections, o.rate, seconds, n, rps, total.Quantile(0.5) / 1e3,
                total.Quantile(0.9) / 1e3, total.Quantile(0.99) / 1e3, total.Quantile(0.999) / 1e3,
                static_cast<unsigned long long>(errors), cpu_us, after.peak_rss_kib);
  } else {
    std::printf("%s: %.0f requests in %.1f s = %.0f/s over %d connections%s\n", o.scenario.c_str(), n, seconds, rps,
                o.connections, o.rate > 0 ? " (open loop)" : "");
    std::printf("latency p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us\n", total.Quantile(0.5) / 1e3,
                total.Quantile(0.9) / 1e3, total.Quantile(0.99) / 1e3, total.Quantile(0.999) / 1e3);
    std::printf("statuses: %s\n", status_text.c_str());
    if (o.server_pid > 0) {
      std::printf("server: %.1f us of CPU per request, peak RSS %ld KiB\n", cpu_us, after.peak_rss_kib);
    }
  }
  return errors == 0 ? 0 : 1;
}
