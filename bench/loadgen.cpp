// authd's load generator: keep-alive HTTP/1.1 connections against a running authd, a warm-up,
// then a fixed measured window, closed-loop (as fast as answers come) or open-loop at a target
// rate (latency counted from each request's scheduled time, so a stalled server is not hidden).
// Reports requests/s, latency percentiles from a log-bucketed histogram (under 1% error), errors
// by status, and the server's CPU time per request and peak RSS read from /proc.
//
//   loadgen --port 8080 --scenario introspect --client-id ID --client-secret S --token T
//           [--connections 8] [--warmup 2] [--duration 10] [--rate 0] [--server-pid PID[,PID...]] [--json]
//
// --server-pid names the server's processes; a server of several (nginx's workers) is measured
// as the sum of their CPU time and of their peak RSS.
// Scenarios: jwks (GET /.well-known/jwks.json), introspect (POST /v1/tokens/introspect with HTTP
// Basic client authentication), healthz, and whole authentications populated through the real
// API first (--admin-token):
//   webauthn-login     options + verify, a fresh signature from a software key per connection;
//                      with --spread-users N --spread-key PEM, each ceremony logs in instead as one
//                      of the users pop0..popN-1 that bench/populate made (chosen at random), with
//                      the key it wrote to PEM and the first key its options allow (signature
//                      counter 0, as populate stores it), so that logins reach all over the store
//   webauthn-register  options + verify of a new key (attestation none) for one of --users users,
//                      in turn (so that, as in real use, a user has a few keys: every key a
//                      user holds is listed in the options as one to exclude)
//   totp-verify        a current code for one of --users users (enrolled and confirmed through the
//                      API; each code is accepted once, so every user serves at most two)
//   yubiotp-verify     POST /v1/yubiotp/verify with a fresh OTP from a software YubiKey per connection
//   ykval-verify       GET /wsapi/2.0/verify, signed with --ykval-id/--ykval-key, same OTPs
// --alg es256|eddsa chooses the software keys' algorithm for the WebAuthn scenarios.
// --peer drives the Node.js peer (../shared/peers/simplewebauthn-api, started with
// PEER_BENCH_BOOTSTRAP=1) instead: users, enrolment codes and the API client come from its
// /bench/bootstrap route, and introspect logs in once for its token (jwks, introspect,
// webauthn-login and webauthn-register are the scenarios it has). jwks needs no set-up, so it
// also measures any static file server that answers /.well-known/jwks.json (bench.sh runs nginx
// with authd's JWKS as a file: the cost of a static HTTP answer on the same machine and hour).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>

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
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "authd/domain/otp.h"
#include "authd/webauthn/cose_key.h"
#include "webauthn/response_json.h"

namespace {

using Clock = std::chrono::steady_clock;
using authd::webauthn::testing::AssertionVerifyBody;
using authd::webauthn::testing::RegistrationVerifyBody;

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
  std::vector<int> server_pids;                    // CPU time and peak RSS summed over them
  bool json = false;
  std::string admin_token;                         // webauthn-login: creates the users
  std::string origin = "http://localhost:8080";    // webauthn-login: the origin the keys claim
  std::string alg = "es256";                       // webauthn-*: the software keys' algorithm
  int users = 3000;                                // totp-verify, webauthn-register: users in all
  int spread_users = 0;                            // webauthn-login: populate's users, at random
  std::string spread_key;                          // ... and the key populate wrote (PEM)
  int64_t ykval_id = 0;                            // ykval-verify: the client's ykval id and key
  std::string ykval_key;
  bool peer = false;
};

std::string Request(const Options& o) {
  if (o.scenario == "jwks") return "GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (o.scenario == "healthz") return "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string body = "token=" + o.token;
  return "POST /v1/tokens/introspect HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic " +
         authd::Base64Encode(authd::AsBytes(o.client_id + ":" + o.client_secret)) +
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
  if (close_paren == std::string::npos || close_paren + 2 > line.size()) return s;
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

// A server of several processes (nginx's workers) is measured as their sum.
ProcSample Sample(const std::vector<int>& pids) {
  ProcSample sum;
  for (int pid : pids) {
    const ProcSample one = Sample(pid);
    sum.cpu_seconds += one.cpu_seconds;
    sum.peak_rss_kib += one.peak_rss_kib;
  }
  return sum;
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

// One connection's scenario state: Setup populates through the API, Op runs one operation on a
// kept-alive connection and returns its HTTP status, 200 when it succeeded (a scenario whose
// success is another status maps it to 200).
class Session {
 public:
  virtual ~Session() = default;
  // Setup's requests go through Call, which reopens `fd` when the server ended the connection
  // (its per-connection request limit) after the last answer.
  virtual bool Setup(int& fd, std::string& buf) = 0;
  // One operation; `close_after` when the server ends the connection after it.
  virtual int Op(int fd, std::string& buf, bool& close_after) = 0;

 protected:
  static bool Fail(const std::string& who, const char* step, int status, const authd::Json& j) {
    std::fprintf(stderr, "loadgen: setting up %s failed at %s (HTTP %d): %s\n", who.c_str(), step, status,
                 authd::DumpJson(j).c_str());
    return false;
  }
  // One request during Setup: the status, the JSON body in `out`.
  int Call(const Options& o, int& fd, std::string& buf, const std::string& request, authd::Json& out) {
    if (reopen_) {
      close(fd);
      buf.clear();
      reopen_ = false;
      fd = Connect(o.port);
      if (fd < 0) return -1;
    }
    return Exchange(fd, buf, request, out, reopen_);
  }
  // POST /v1/admin/users with the admin token; false (and said why) unless it was created.
  bool CreateUser(const Options& o, int& fd, std::string& buf, const std::string& username) {
    authd::Json j;
    const int st = Call(o, fd, buf, Post("/v1/admin/users", authd::DumpJson({{"username", username}}), o.admin_token), j);
    return st == 201 || Fail(username, "user", st, j);
  }

 private:
  bool reopen_ = false;  // the server said it closes the connection after its last answer
};

std::string UniqueName(const char* prefix, int index) {
  return std::string(prefix) + std::to_string(index) + "-" + authd::HexEncode(authd::RandomBytes(4));
}

int64_t Alg(const Options& o) { return o.alg == "eddsa" ? authd::webauthn::cose::kEdDSA : authd::webauthn::cose::kES256; }

// The private key bench/populate wrote, or null (and said why).
authd::EvpPkeyPtr ReadPopulatedKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  EVP_PKEY* key = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  if (!key) std::fprintf(stderr, "loadgen: cannot read the populated users' key from %s\n", path.c_str());
  return authd::EvpPkeyPtr(key);
}

class WebAuthnLogin final : public Session {
 public:
  WebAuthnLogin(const Options& o, int index) : o_(o), key_(Alg(o)), pick_(static_cast<uint64_t>(index) * 7919 + 1) {
    username_ = UniqueName("bench", index);
    key_.origin = o.origin;
  }

  bool Setup(int& fd, std::string& buf) override {
    if (o_.spread_users > 0) {  // the users exist already: only the key is needed
      key_.key = ReadPopulatedKey(o_.spread_key);
      return key_.key != nullptr;
    }
    authd::Json j;
    std::string code;
    if (o_.peer) {
      const int st = Call(o_, fd, buf, Post("/bench/bootstrap", authd::DumpJson({{"usernames", {username_}}, {"client", false}})),
                          j);
      if (st != 201) return Fail(username_, "bootstrap", st, j);
      code = j["users"][0]["enrollment_code"].get<std::string>();
    } else {
      if (!CreateUser(o_, fd, buf, username_)) return false;
      const int st = Call(o_, fd, buf, Post("/v1/admin/users/" + username_ + "/enrollment-codes", "{}", o_.admin_token), j);
      if (st != 201) return Fail(username_, "enrolment code", st, j);
      code = j.value("enrollment_code", "");
    }
    int st = 0;
    st = Call(o_, fd, buf, Post("/v1/webauthn/registration/options",
                                authd::DumpJson({{"username", username_}, {"enrollment_code", code}})),
              j);
    if (st != 200) return Fail(username_, "registration options", st, j);
    key_.rp_id = j["publicKey"]["rp"]["id"].get<std::string>();
    const authd::Json body = RegistrationVerifyBody(j, key_, key_.NewRegistration());
    st = Call(o_, fd, buf, Post("/v1/webauthn/registration/verify", authd::DumpJson(body)), j);
    if (st != 201) return Fail(username_, "registration verify", st, j);
    return true;
  }

  int Op(int fd, std::string& buf, bool& close_after) override {
    authd::Json j;
    const std::string username =
        o_.spread_users > 0 ? "pop" + std::to_string(pick_() % static_cast<uint64_t>(o_.spread_users)) : username_;
    int st = Exchange(fd, buf, Post("/v1/webauthn/authentication/options", "{\"username\":\"" + username + "\"}"), j,
                      close_after);
    if (st != 200 || close_after) return st;
    auto assertion = key_.NewAssertion();
    if (o_.spread_users > 0) {
      const auto& allowed = j["publicKey"]["allowCredentials"];
      auto id = allowed.empty() ? std::nullopt : authd::Base64UrlDecode(allowed[0]["id"].get<std::string>());
      if (!id) return -2;  // not a populated user
      key_.credential_id = *id;
      assertion.auth.sign_count = 0;
    }
    const authd::Json verify = AssertionVerifyBody(j, key_, assertion);
    st = Exchange(fd, buf, Post("/v1/webauthn/authentication/verify", authd::DumpJson(verify)), j, close_after);
    if (st == 200) last_token_ = j.value("access_token", "");
    return st;
  }

  const std::string& last_token() const { return last_token_; }

 private:
  const Options& o_;
  std::string username_, last_token_;
  authd::webauthn::testing::TestAuthenticator key_;
  std::mt19937_64 pick_;  // which populated user logs in next
};

// Registers a new key per operation, for 32 users of this connection in turn (so that no user's
// list of keys, which the options repeat as excludeCredentials, grows fast).
class WebAuthnRegister final : public Session {
 public:
  WebAuthnRegister(const Options& o, int index, int users) : o_(o), key_(Alg(o)) {
    for (int u = 0; u < users; ++u) users_.push_back(UniqueName("reg", index * 100000 + u));
    key_.origin = o.origin;
  }

  bool Setup(int& fd, std::string& buf) override {
    if (o_.peer) return true;  // the peer's users come with an enrolment code per registration
    for (const auto& u : users_) {
      if (!CreateUser(o_, fd, buf, u)) return false;
    }
    return true;
  }

  int Op(int fd, std::string& buf, bool& close_after) override {
    authd::Json j;
    const std::string& user = users_[next_++ % users_.size()];
    int st = 0;
    if (o_.peer) {
      // The peer has no admin API: a bootstrap call hands out the enrolment code (one request
      // more per operation on the peer's side, which this scenario's figures for it include).
      st = Exchange(fd, buf, Post("/bench/bootstrap", authd::DumpJson({{"usernames", {user}}, {"client", false}})), j,
                    close_after);
      if (st != 201 || close_after) return st;
      const std::string code = j["users"][0]["enrollment_code"].get<std::string>();
      st = Exchange(fd, buf, Post("/v1/webauthn/registration/options",
                                 authd::DumpJson({{"username", user}, {"enrollment_code", code}})),
                    j, close_after);
    } else {
      st = Exchange(fd, buf, Post("/v1/webauthn/registration/options", authd::DumpJson({{"username", user}}), o_.admin_token),
                    j, close_after);
    }
    if (st != 200 || close_after) return st;
    key_.rp_id = j["publicKey"]["rp"]["id"].get<std::string>();
    key_.credential_id = authd::RandomBytes(32);
    const authd::Json body = RegistrationVerifyBody(j, key_, key_.NewRegistration());
    st = Exchange(fd, buf, Post("/v1/webauthn/registration/verify", authd::DumpJson(body)), j, close_after);
    return st == 201 ? 200 : st;
  }

 private:
  const Options& o_;
  std::vector<std::string> users_;
  size_t next_ = 0;
  authd::webauthn::testing::TestAuthenticator key_;
};

// TOTP: each code is accepted once and steps only move forward, so with the default window of
// one step a user can serve at most the current and the next step; users are used in turn.
class TotpVerify final : public Session {
 public:
  TotpVerify(const Options& o, int index, int users) : o_(o) {
    for (int u = 0; u < users; ++u) users_.push_back({UniqueName("totp", index * 100000 + u), {}, -1});
  }

  bool Setup(int& fd, std::string& buf) override {
    authd::Json j;
    for (auto& u : users_) {
      if (!CreateUser(o_, fd, buf, u.name)) return false;
      int st = Call(o_, fd, buf, Post("/v1/totp/enrollment", authd::DumpJson({{"username", u.name}}), o_.admin_token), j);
      if (st != 200) return Fail(u.name, "totp enrollment", st, j);
      u.secret = *authd::Base32Decode(j["secret"].get<std::string>());
      // Confirm with the previous step's code, so that the current and the next remain for the run;
      // never in the last two seconds of a step, when the server may already be in the next one
      // (and the previous step then out of its window).
      while (std::time(nullptr) % 30 >= 28) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t step = Step() - 1;
      st = Call(o_, fd, buf, Post("/v1/totp/enrollment/confirm",
                                  authd::DumpJson({{"enrollment", j["enrollment"]}, {"code", Code(u, step)}})),
                j);
      if (st != 201) return Fail(u.name, "totp confirm", st, j);
      u.last_step = step;
    }
    return true;
  }

  int Op(int fd, std::string& buf, bool& close_after) override {
    const int64_t now = Step();
    for (size_t tries = 0; tries < users_.size(); ++tries) {
      User& u = users_[next_++ % users_.size()];
      // The current step or the next: both stay inside the server's window even if its clock has
      // passed into the next step since `now` was read.
      const int64_t step = std::max(u.last_step + 1, now);
      if (step > now + 1) continue;  // this user has used every step the window allows
      const int64_t previous = u.last_step;
      u.last_step = step;
      const std::string sent = Code(u, step);
      authd::Json j;
      const int st =
          Exchange(fd, buf, Post("/v1/totp/verify", authd::DumpJson({{"username", u.name}, {"code", sent}})), j, close_after);
      if (st > 0 && st != 200) {
        // Said for the first few failures: what the server answered and which steps were in play.
        static std::atomic<int> said{0};
        if (said++ < 5) {
          std::fprintf(stderr,
                       "loadgen: totp-verify got HTTP %d (%s) for step %lld (the generator's step %lld, the user's "
                       "last %lld, the step now %lld); the code %s is also the code of the step before: %s, after: %s\n",
                       st, j.is_object() ? j.value("code", "").c_str() : "", static_cast<long long>(step),
                       static_cast<long long>(now), static_cast<long long>(previous), static_cast<long long>(Step()),
                       sent.c_str(), Code(u, step - 1) == sent ? "yes" : "no", Code(u, step + 1) == sent ? "yes" : "no");
        }
      }
      return st;
    }
    // Every user's codes are used up (enrol more with --users): counted as an error, without
    // spinning through the rest of the run.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return 0;
  }

 private:
  struct User {
    std::string name;
    authd::Bytes secret;
    int64_t last_step;
  };
  static int64_t Step() { return static_cast<int64_t>(std::time(nullptr)) / 30; }
  static std::string Code(const User& u, int64_t step) {
    return authd::domain::otp::Hotp(u.secret, static_cast<uint64_t>(step), authd::domain::otp::HashAlg::kSha1, 6);
  }

  const Options& o_;
  std::vector<User> users_;
  size_t next_ = 0;
};

// A software YubiKey in Yubico OTP mode: every OTP has a higher (useCtr, sessionCtr).
class YubiOtp final : public Session {
 public:
  YubiOtp(const Options& o, int index, bool ykval) : o_(o), ykval_(ykval) {
    username_ = UniqueName("yk", index);
    public_id_ = authd::domain::otp::ModhexEncode(authd::RandomBytes(6));
    aes_key_ = authd::RandomBytes(16);
    const authd::Bytes pid = authd::RandomBytes(6);
    std::copy(pid.begin(), pid.end(), token_.private_id.begin());
    token_.use_counter = 1;
  }

  bool Setup(int& fd, std::string& buf) override {
    authd::Json j;
    if (!CreateUser(o_, fd, buf, username_)) return false;
    const authd::Json reg = {{"public_id", public_id_},
                             {"private_id", authd::HexEncode(authd::ByteView(token_.private_id.data(), 6))},
                             {"aes_key", authd::HexEncode(aes_key_)}};
    const int st = Call(o_, fd, buf, Post("/v1/admin/users/" + username_ + "/yubiotp", authd::DumpJson(reg), o_.admin_token), j);
    if (st != 201) return Fail(username_, "yubiotp registration", st, j);
    return true;
  }

  int Op(int fd, std::string& buf, bool& close_after) override {
    if (++token_.session_counter == 0) ++token_.use_counter;
    token_.timestamp = (token_.timestamp + 8) & 0xffffff;
    const std::string otp =
        public_id_ + authd::domain::otp::EncryptYubiOtp(token_, aes_key_, static_cast<uint16_t>(token_.session_counter * 31));
    if (!ykval_) {
      authd::Json j;
      return Exchange(fd, buf, Post("/v1/yubiotp/verify", authd::DumpJson({{"otp", otp}})), j, close_after);
    }
    std::map<std::string, std::string> params = {
        {"id", std::to_string(o_.ykval_id)}, {"otp", otp}, {"nonce", authd::HexEncode(authd::RandomBytes(12))}};
    params["h"] = authd::domain::otp::YkvalSignature(params, *authd::Base64Decode(o_.ykval_key));
    std::string query;
    for (const auto& [k, v] : params) {
      query += (query.empty() ? "" : "&") + k + "=";
      for (char c : v) {
        if (std::isalnum(static_cast<unsigned char>(c))) query += c;
        else {
          char hex[4];
          std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
          query += hex;
        }
      }
    }
    const std::string request = "GET /wsapi/2.0/verify?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) return -1;
    std::string body;
    const int st = ReadResponse(fd, buf, close_after, &body);
    // The protocol answers 200 with its own status word; only OK is a success.
    return st == 200 && body.find("status=OK") == std::string::npos ? 299 : st;
  }

 private:
  const Options& o_;
  bool ykval_;
  std::string username_, public_id_;
  authd::Bytes aes_key_;
  authd::domain::otp::YubiOtpToken token_;
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
    else if (a == "--server-pid") {
      std::istringstream list(next());
      for (std::string pid; std::getline(list, pid, ',');) o.server_pids.push_back(std::stoi(pid));
    }
    else if (a == "--json") o.json = true;
    else if (a == "--admin-token") o.admin_token = next();
    else if (a == "--origin") o.origin = next();
    else if (a == "--alg") o.alg = next();
    else if (a == "--users") o.users = std::stoi(next());
    else if (a == "--spread-users") o.spread_users = std::stoi(next());
    else if (a == "--spread-key") o.spread_key = next();
    else if (a == "--ykval-id") o.ykval_id = std::stoll(next());
    else if (a == "--ykval-key") o.ykval_key = next();
    else if (a == "--peer") o.peer = true;
    else {
      std::fprintf(stderr, "loadgen: unknown option %s (see the comment at the top of bench/loadgen.cpp)\n", a.c_str());
      return 2;
    }
  }
  static const std::vector<std::string> kScenarios = {"jwks", "introspect", "healthz", "webauthn-login",
                                                       "webauthn-register", "totp-verify", "yubiotp-verify",
                                                       "ykval-verify"};
  if (std::find(kScenarios.begin(), kScenarios.end(), o.scenario) == kScenarios.end() ||
      (o.alg != "es256" && o.alg != "eddsa")) {
    std::fprintf(stderr, "loadgen: unknown scenario %s or --alg %s (see bench/loadgen.cpp)\n", o.scenario.c_str(),
                 o.alg.c_str());
    return 2;
  }
  // Scenarios that authenticate: state per connection, populated through the real API first.
  std::vector<std::unique_ptr<Session>> keys;
  for (int c = 0; c < o.connections && o.scenario.find('-') != std::string::npos; ++c) {
    std::unique_ptr<Session> k;
    if (o.scenario == "webauthn-login") k = std::make_unique<WebAuthnLogin>(o, c);
    else if (o.scenario == "webauthn-register") k = std::make_unique<WebAuthnRegister>(o, c, std::max(1, o.users / o.connections));
    else if (o.scenario == "totp-verify") k = std::make_unique<TotpVerify>(o, c, std::max(1, o.users / o.connections));
    else k = std::make_unique<YubiOtp>(o, c, o.scenario == "ykval-verify");
    keys.push_back(std::move(k));
  }
  if (!keys.empty()) {
    std::fprintf(stderr, "loadgen: populating %s through the API\n", o.scenario.c_str());
    std::vector<std::thread> setup;
    std::atomic<bool> failed{false};
    for (auto& k : keys) {
      setup.emplace_back([&, session = k.get()] {
        int fd = Connect(o.port);
        std::string buf;
        if (fd < 0 || !session->Setup(fd, buf)) failed = true;
        if (fd >= 0) close(fd);
      });
    }
    for (auto& t : setup) t.join();
    if (failed) return 1;
  }
  if (o.peer && o.scenario == "introspect") {
    // The peer's only tokens come from logins, and its only client from its bootstrap route.
    WebAuthnLogin login(o, 999);
    int fd = Connect(o.port);
    std::string buf;
    bool close_after = false;
    authd::Json j;
    if (fd < 0 || !login.Setup(fd, buf) || login.Op(fd, buf, close_after) != 200) return 1;
    if (Exchange(fd, buf, Post("/bench/bootstrap", authd::DumpJson({{"usernames", authd::Json::array()}, {"client", true}})),
                 j, close_after) != 201) {
      return 1;
    }
    close(fd);
    o.token = login.last_token();
    o.client_id = j["client"]["client_id"].get<std::string>();
    o.client_secret = j["client"]["client_secret"].get<std::string>();
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
          status = keys[static_cast<size_t>(c)]->Op(fd, buf, server_closes);
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
  const ProcSample before = Sample(o.server_pids);
  const auto t0 = Clock::now();
  measuring = true;
  std::fprintf(stderr, "loadgen: measuring for %.0f s\n", o.duration);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
  measuring = false;
  const auto t1 = Clock::now();
  const ProcSample after = Sample(o.server_pids);
  stop = true;
  for (auto& t : threads) t.join();

  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  const double n = static_cast<double>(total.total());
  const double rps = n / seconds;
  const double cpu_us = !o.server_pids.empty() && n > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / n : 0;
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
    if (!o.server_pids.empty()) {
      std::printf("server: %.1f us of CPU per request, peak RSS %ld KiB\n", cpu_us, after.peak_rss_kib);
    }
  }
  return errors == 0 ? 0 : 1;
}
