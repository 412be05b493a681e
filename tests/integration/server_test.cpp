// The server's public surface, limits and headers, against the real authd process.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "integration/harness.h"

namespace authd::testing {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()) << server_.log(); }
  AuthdProcess server_;
};

void ExpectProblem(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
  Json j = r.json();
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_EQ(j.value("status", 0), status);
  EXPECT_FALSE(j.value("title", "").empty());
  EXPECT_FALSE(j.value("detail", "").empty());
}

TEST_F(ServerTest, HealthReadinessAndDiscovery) {
  HttpResult h = server_.Get("/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json()["status"], "ok");
  EXPECT_EQ(server_.Get("/readyz").status, 200);

  HttpResult conf = server_.Get("/.well-known/authd-configuration");
  ASSERT_EQ(conf.status, 200);
  Json c = conf.json();
  EXPECT_EQ(c["issuer"], "http://localhost:8080");
  EXPECT_EQ(c["rp_id"], "localhost");
  EXPECT_EQ(c["origins"], Json({"http://localhost:8080"}));
  EXPECT_EQ(c["jwks_uri"], "http://localhost:8080/.well-known/jwks.json");

  HttpResult jwks = server_.Get("/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  EXPECT_EQ(jwks.header("content-type"), "application/jwk-set+json");
  Json keys = jwks.json()["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["kty"], "EC");
  EXPECT_EQ(keys[0]["alg"], "ES256");
  EXPECT_FALSE(keys[0].contains("d"));
}

TEST_F(ServerTest, RunsOnTheAllocatorItWasBuiltWith) {
  // The ready line names the library malloc resolves to in the running process.
  std::string ready;
  for (int i = 0; i < 50 && ready.empty(); ++i) {
    std::istringstream lines(server_.log());
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"event\":\"ready\"") != std::string::npos) ready = line;
    }
    if (ready.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(ready.empty()) << server_.log();
  auto parsed = ParseJsonStrict(ready);
  ASSERT_TRUE(parsed) << ready;
  EXPECT_EQ((*parsed).value("allocator", "").rfind(AUTHD_TEST_ALLOCATOR, 0), 0u) << ready;
}

TEST_F(ServerTest, MetricsExposeRequestsLatencyAndAuthentications) {
  server_.Get("/healthz");
  server_.Request("POST", "/v1/tokens/introspect", "token=x", {{"Content-Type", "application/x-www-form-urlencoded"}});
  HttpResult m = server_.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("authd_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("authd_http_request_duration_seconds_bucket{route=\"/healthz\""), std::string::npos);
  EXPECT_NE(m.body.find("authd_authentications_total{factor=\"client\",result=\"invalid_client\"}"), std::string::npos);
  // The refused client authentication was audited: one write, in one commit at least.
  EXPECT_NE(m.body.find("\nauthd_store_writes_total "), std::string::npos);
  EXPECT_NE(m.body.find("\nauthd_store_commits_total "), std::string::npos);
  EXPECT_EQ(m.body.find("\nauthd_store_writes_total 0\n"), std::string::npos) << m.body;
  // The store's page cache: pages read past the map, from it or from the file.
  for (const char* result : {"hit", "miss"}) {
    const std::string name = std::string("\nauthd_store_page_cache_reads_total{result=\"") + result + "\"} ";
    const size_t at = m.body.find(name);
    ASSERT_NE(at, std::string::npos) << m.body;
    const size_t digits = at + name.size();
    EXPECT_LT(digits, m.body.size());
    EXPECT_TRUE(m.body[digits] >= '0' && m.body[digits] <= '9') << m.body.substr(at, 80);
  }
}

TEST_F(ServerTest, EveryResponseCarriesSecurityHeaders) {
  for (const char* path : {"/healthz", "/nope", "/.well-known/jwks.json"}) {
    HttpResult r = server_.Get(path);
    EXPECT_EQ(r.header("cache-control"), "no-store") << path;
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff") << path;
    EXPECT_NE(r.header("content-security-policy").find("default-src 'none'"), std::string::npos) << path;
    EXPECT_EQ(r.header("x-request-id").size(), 16u) << path;
    EXPECT_TRUE(r.header("strict-transport-security").empty()) << "no HSTS over plain HTTP";
  }
}

TEST_F(ServerTest, RequestIdIsEchoedOnlyWhenSafe) {
  EXPECT_EQ(server_.Get("/healthz", {{"X-Request-Id", "abc-123_x.y"}}).header("x-request-id"), "abc-123_x.y");
  std::string echoed = server_.Get("/healthz", {{"X-Request-Id", "bad id<script>"}}).header("x-request-id");
  EXPECT_NE(echoed, "bad id<script>");
  EXPECT_EQ(echoed.size(), 16u);
  EXPECT_NE(server_.Get("/healthz", {{"X-Request-Id", std::string(65, 'a')}}).header("x-request-id"),
            std::string(65, 'a'));
}

TEST_F(ServerTest, UnknownRoutesAndMethods) {
  ExpectProblem(server_.Get("/v1/nothing"), 404, "not_found");
  HttpResult r = server_.Request("DELETE", "/healthz");
  ExpectProblem(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET");
  ExpectProblem(server_.Get("/v1/tokens/revoke"), 405, "method_not_allowed");  // K15
}

// A TCP connection to authd on loopback; -1 if it is refused.
int ConnectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends raw bytes on a fresh connection and returns everything the server answers before it
// closes the connection (or the bounded wait ends).
std::string RawExchange(uint16_t port, const std::vector<std::string>& parts) {
  int fd = ConnectTo(port);
  if (fd < 0) return "";
  for (const auto& p : parts) {
    if (send(fd, p.data(), p.size(), MSG_NOSIGNAL) < 0) break;
  }
  std::string response;
  char buf[4096];
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

// Connects, sends `head`, and returns what arrives within `wait` (or until the server closes).
std::string SendAndRead(int fd, const std::string& head, std::chrono::milliseconds wait) {
  if (!head.empty()) send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string got;
  const auto until = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  while (std::chrono::steady_clock::now() < until) {
    timeval tv{0, 50000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      if (got.find("\r\n\r\n") != std::string::npos) break;
    }
  }
  return got;
}

TEST_F(ServerTest, ExpectContinueGetsAGoAheadOrAFinalAnswerFromTheHead) {
  const std::string body = "token=" + std::string(2000, 'a');
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  std::string go = SendAndRead(fd, "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n",
                               std::chrono::milliseconds(2000));
  EXPECT_EQ(go, "HTTP/1.1 100 Continue\r\n\r\n");
  std::string answer = SendAndRead(fd, body, std::chrono::milliseconds(2000));
  close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 401 ", 0), 0u) << answer;  // the body was read: no client credentials

  // Too large from its head: the final answer at once, no go-ahead, no wait for a body.
  fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  std::string refused = SendAndRead(fd, "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n",
                                    std::chrono::milliseconds(2000));
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(refused.rfind("HTTP/1.1 413 ", 0), 0u) << refused;
  EXPECT_LT(took, std::chrono::milliseconds(500));
}

TEST_F(ServerTest, DeclaredOversizedBodyIs413BeforeBuffering) {
  // Content-Length says 10 MB and no body follows: the answer comes from the header alone, and
  // the connection is closed.
  std::string response = RawExchange(server_.port(), {"POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\n"
                                                      "Content-Type: application/x-www-form-urlencoded\r\n"
                                                      "Content-Length: 10000000\r\n\r\n"});
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response.substr(0, 200);
  EXPECT_NE(response.find("body_too_large"), std::string::npos);
  std::string lower = response;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  EXPECT_NE(lower.find("connection: close"), std::string::npos) << response.substr(0, 400);
}

TEST_F(ServerTest, RealBodyJustOverTheLimitIs413) {
  std::string token = server_.TokenFor("root", {"admin"});
  ASSERT_FALSE(token.empty());
  std::string body = "{\"username\":\"" + std::string(70 * 1024, 'a') + "\"}";
  ExpectProblem(server_.Request("POST", "/v1/admin/users", body,
                                {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}}),
                413, "body_too_large");
}

TEST_F(ServerTest, ChunkedBodyPastTheLimitIs413) {
  std::string head = "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n";
  std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
  std::string response = RawExchange(server_.port(), {head, chunk, chunk, chunk, chunk, chunk});
  EXPECT_EQ(response.rfind("HTTP/1.1 413", 0), 0u) << response.substr(0, 200);
  EXPECT_NE(response.find("body_too_large"), std::string::npos);
}

// A chunked body is decoded strictly (RFC 9112 §7.1): a well-formed one is read whole and the
// request after it is answered; chunk framing a proxy could read differently gets one 400.
TEST_F(ServerTest, ChunkedBodiesAreFramedStrictly) {
  const std::string head = "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n\r\n";
  const std::string next = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: after\r\nConnection: close\r\n\r\n";
  const std::string good = RawExchange(server_.port(), {head + "3;ext=1\r\ntok\r\n3\r\nen=\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n" + next});
  EXPECT_EQ(good.rfind("HTTP/1.1 401 ", 0), 0u) << good;  // read whole: the client is what is missing
  EXPECT_NE(good.find("X-Request-Id: after"), std::string::npos) << good;
  for (const std::string body : {"5 xyz\r\ntoken\r\n0\r\n\r\n", " 5\r\ntoken\r\n0\r\n\r\n", "5\ntoken\n0\n\n",
                                 "5\r\ntokenXX0\r\n\r\n", "-5\r\ntoken\r\n0\r\n\r\n"}) {
    const std::string response = RawExchange(server_.port(), {head + body + next});
    EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << body << "\n---\n" << response;
    EXPECT_NE(response.find("chunked body"), std::string::npos) << response;
    EXPECT_EQ(response.find("X-Request-Id: after"), std::string::npos) << body << "\n---\n" << response;
  }
}

TEST_F(ServerTest, WrongContentTypeIs415) {
  std::string token = server_.TokenFor("root", {"admin"});
  ExpectProblem(server_.Request("POST", "/v1/admin/users", "{\"username\":\"x\"}",
                                {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + token}}),
                415, "unsupported_media_type");
  ExpectProblem(server_.Request("POST", "/v1/admin/users", "{\"username\":\"x\"}", {{"Authorization", "Bearer " + token}}),
                415, "unsupported_media_type");
}

TEST_F(ServerTest, HostileJsonIs400AndStoresNothing) {
  std::string token = server_.TokenFor("root", {"admin"});
  std::map<std::string, std::string> h = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
  const std::vector<std::string> bodies = {
      "{\"username\":\"a\xff\"}",                          // invalid UTF-8
      "{\"username\":\"\\ud800\"}",                        // lone surrogate
      "{\"username\":\"a\\u0000b\"}",                      // NUL
      std::string(20000, '[') ,                            // depth
      "{\"username\":1e999999}",                           // huge number
      "{\"username\":\"dup\",\"username\":\"dup2\"}",      // duplicate key
      "{\"username\":\"x\"",                               // truncated
      "[\"username\"]",                                    // not an object
      "{\"username\":[\"x\"]}",                            // wrong type
      "{\"username\":\"x\",\"roles\":\"admin\"}",          // roles not an array
  };
  for (const auto& b : bodies) {
    HttpResult r = server_.Request("POST", "/v1/admin/users", b, h);
    EXPECT_EQ(r.status, 400) << b.substr(0, 40) << " -> " << r.body;
    EXPECT_EQ(r.json().value("code", ""), "bad_request") << b.substr(0, 40);
  }
  ExpectProblem(server_.PostJson("/v1/admin/users", {{"username", "bad name"}}, token), 400, "invalid_username");
  ExpectProblem(server_.PostJson("/v1/admin/users", {{"username", "x"}, {"roles", {"god"}}}, token), 400,
                "invalid_argument");
  HttpResult list = server_.Get("/v1/admin/users", {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(list.json()["users"].size(), 1u) << list.body;  // only root
  EXPECT_EQ(server_.Get("/healthz").status, 200);           // and the server lives on
}

TEST_F(ServerTest, TooManyHeadersOrHugeValuesAreRefusedWithoutHarm) {
  std::map<std::string, std::string> many;
  for (int i = 0; i < 150; ++i) many["X-H" + std::to_string(i)] = "v";
  ExpectProblem(server_.Get("/healthz", many), 400, "bad_request");
  ExpectProblem(server_.Get("/healthz", {{"X-Big", std::string(10000, 'a')}}), 400, "bad_request");
  ExpectProblem(server_.Get("/healthz", {{std::string(300, 'N'), "v"}}), 400, "bad_request");
  ExpectProblem(server_.Get("/healthz?q=" + std::string(20000, 'a')), 400, "bad_request");
  EXPECT_EQ(server_.Get("/healthz").status, 200);
}

TEST_F(ServerTest, OnlyHttpOneIsSpokenAndGarbageGetsAProblemThenClose) {
  std::string bad_version = RawExchange(server_.port(), {"GET /healthz HTTP/9.1\r\nHost: x\r\n\r\n"});
  EXPECT_EQ(bad_version.rfind("HTTP/1.1 400 ", 0), 0u) << bad_version;
  EXPECT_NE(bad_version.find("\"code\":\"bad_request\""), std::string::npos) << bad_version;
  EXPECT_NE(bad_version.find("Connection: close"), std::string::npos) << bad_version;
  std::string garbage = RawExchange(server_.port(), {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                                                     std::string(600, 'A') + "\r\n\r\n"});
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400 ", 0), 0u) << garbage;
  EXPECT_NE(garbage.find("application/problem+json"), std::string::npos) << garbage;
  EXPECT_NE(garbage.find("X-Content-Type-Options: nosniff"), std::string::npos) << garbage;
  EXPECT_EQ(server_.Get("/healthz").status, 200);
}

// Request smuggling (RFC 9112 §6.3, §11.2): a head whose body framing another party could read
// differently is refused with one 400 and the connection closed, so that nothing in its body is
// ever read as a request of its own.
TEST_F(ServerTest, AmbiguousFramingIsRefusedAndNothingIsSmuggled) {
  const std::string post = "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n";
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: smuggled\r\n\r\n";
  const std::string chunk = "1c\r\n" + smuggled.substr(0, 28) + "\r\n0\r\n\r\n";
  const std::vector<std::string> heads = {
      post + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunk + smuggled,
      post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk + smuggled,
      post + "Content-Length: 4\r\nContent-Length: 40\r\n\r\ntoke" + smuggled,
      post + "Content-Length: +4\r\n\r\ntoke" + smuggled,
      post + "Content-Length : 4\r\n\r\ntoke" + smuggled,
      post + "X-A: 1\r\n Content-Length: 4\r\n\r\ntoke" + smuggled,
      post + "X-A: 1\rContent-Length: 4\r\n\r\ntoke" + smuggled,
      "POST /v1/tokens/introspect HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + smuggled,
      "GET /healthz HTTP/1.1\r\nX-Request-Id: no-host\r\n\r\n" + smuggled,
  };
  for (const auto& raw : heads) {
    const std::string response = RawExchange(server_.port(), {raw});
    EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << raw << "\n---\n" << response;
    EXPECT_NE(response.find("\"code\":\"bad_request\""), std::string::npos) << response;
    EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
    EXPECT_EQ(response.find("smuggled"), std::string::npos) << raw << "\n---\n" << response;
    size_t answers = 0;
    for (size_t at = response.find("\r\nDate: "); at != std::string::npos; at = response.find("\r\nDate: ", at + 1)) ++answers;
    EXPECT_EQ(answers, 1u) << response;
  }
  // Bare line feeds and empty lines before a request are still read (RFC 9112 §2.2).
  const std::string lf = RawExchange(server_.port(), {"\r\nGET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n"});
  EXPECT_EQ(lf.rfind("HTTP/1.1 200 ", 0), 0u) << lf;
  EXPECT_EQ(server_.Get("/healthz").status, 200);
}

TEST_F(ServerTest, HeadCutShortByTheClientGetsA400AndAnEmptyConnectionNothing) {
  auto half_closed = [&](const std::string& sent) {
    int fd = ConnectTo(server_.port());
    if (fd < 0) return std::string("no connection");
    send(fd, sent.data(), sent.size(), MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    std::string got = SendAndRead(fd, "", std::chrono::milliseconds(2000));
    close(fd);
    return got;
  };
  const std::string cut = half_closed("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(cut.rfind("HTTP/1.1 400 ", 0), 0u) << cut;
  EXPECT_NE(cut.find("ended before its empty line"), std::string::npos) << cut;
  EXPECT_EQ(half_closed(""), "");
  EXPECT_EQ(half_closed("\r\n\r\n"), "");  // only empty lines: nothing was asked
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrderAndHttp10Closes) {
  std::string two = RawExchange(server_.port(), {"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
                                                 "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\n"
                                                 "Connection: close\r\n\r\n"});
  const size_t first = two.find("X-Request-Id: first");
  const size_t second = two.find("X-Request-Id: second");
  ASSERT_NE(first, std::string::npos) << two;
  ASSERT_NE(second, std::string::npos) << two;
  EXPECT_LT(first, second);
  EXPECT_NE(two.find("Date: "), std::string::npos) << two;
  // HTTP/1.0 without keep-alive: one answer, then the server closes (RawExchange returns).
  std::string old = RawExchange(server_.port(), {"GET /healthz HTTP/1.0\r\n\r\n"});
  EXPECT_EQ(old.rfind("HTTP/1.1 200 ", 0), 0u) << old;
  EXPECT_NE(old.find("Connection: close"), std::string::npos) << old;
}

TEST_F(ServerTest, TheLastAnswerAKeptAliveConnectionCarriesSaysClose) {
  // A connection carries 10,000 requests; the 10,000th answer says so, and nothing follows it.
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string buf, last_head;
  int answers = 0, closes = 0;
  char chunk[16384];
  for (int i = 0; i < 10001; ++i) {
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) break;
    size_t head_end;
    ssize_t n = 1;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos &&
           (n = recv(fd, chunk, sizeof chunk, 0)) > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    }
    if (head_end == std::string::npos) break;  // the server closed the connection
    last_head = buf.substr(0, head_end);
    const size_t cl = last_head.find("Content-Length: ");
    ASSERT_NE(cl, std::string::npos) << last_head;
    const size_t length = std::stoul(last_head.substr(cl + 16));
    while (buf.size() < head_end + 4 + length && (n = recv(fd, chunk, sizeof chunk, 0)) > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    }
    ASSERT_GE(buf.size(), head_end + 4 + length) << "an answer was cut short";
    buf.erase(0, head_end + 4 + length);
    ++answers;
    if (last_head.find("Connection: close") != std::string::npos) ++closes;
  }
  close(fd);
  EXPECT_EQ(answers, 10000);
  EXPECT_EQ(closes, 1);
  EXPECT_NE(last_head.find("Connection: close"), std::string::npos) << last_head;
}

TEST_F(ServerTest, BadPercentEscapeInQueryIs400) {
  ExpectProblem(server_.Get("/v1/admin/users?q=%zz"), 400, "bad_request");
}

// Holds a worker busy by sending an incomplete request head.
int HoldConnection(uint16_t port) {
  int fd = ConnectTo(port);
  if (fd < 0) return -1;
  const char* partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  send(fd, partial, strlen(partial), MSG_NOSIGNAL);
  return fd;
}

TEST(SlowClient, TrickledHeaderBytesDoNotExtendTheDeadline) {
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_REQUEST_TIMEOUT", "2"}});
  ASSERT_TRUE(server.Start()) << server.log();
  int fd = HoldConnection(server.port());
  ASSERT_GE(fd, 0);
  // One header byte every 500 ms: each recv succeeds well within Poco's per-read timeout, yet
  // the whole head is overdue after 2 s and the connection must be cut.
  auto start = std::chrono::steady_clock::now();
  bool cut = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(8)) {
    if (send(fd, "X", 1, MSG_NOSIGNAL) < 0) {
      cut = true;
      break;
    }
    char c;
    if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_TRUE(cut);
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(server.Get("/healthz").status, 200);
}

TEST(Overload, FullQueueGetsA503FastAndServiceRecovers) {
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_THREADS", "2"}, {"AUTHD_MAX_QUEUED", "1"}, {"AUTHD_REQUEST_TIMEOUT", "3"}});
  ASSERT_TRUE(server.Start()) << server.log();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(HoldConnection(server.port()));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  auto start = std::chrono::steady_clock::now();
  HttpResult r = server.Get("/healthz");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json().value("code", ""), "overloaded");
  EXPECT_LT(took, std::chrono::seconds(1));
  for (int fd : held) close(fd);
  // Once the held connections are gone, service resumes.
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    recovered = server.Get("/healthz").status == 200;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(recovered);
}

TEST(SlowClient, HeaderTrickleIsCutOffAtTheDeadline) {
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_REQUEST_TIMEOUT", "1"}});
  ASSERT_TRUE(server.Start()) << server.log();
  int fd = HoldConnection(server.port());
  ASSERT_GE(fd, 0);
  char buf[256];
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto start = std::chrono::steady_clock::now();
  ssize_t n = recv(fd, buf, sizeof(buf), 0);  // the server closes (or answers) within its deadline
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_LE(n, static_cast<ssize_t>(sizeof(buf)));
  EXPECT_LT(took, std::chrono::milliseconds(4500));
  EXPECT_EQ(server.Get("/healthz").status, 200);
}

}  // namespace
}  // namespace authd::testing
