// Deferred answers (message.h, Deferral) through the real HTTP server on loopback: given from
// another thread, in order with the connection's other answers, once each, and without that
// thread ever waiting for a client that does not read.

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "authd/http/server.h"
#include "util/loopback.h"

namespace authd::http {
namespace {

using testing::ReadAnswers;

int ConnectTo(uint16_t port, int rcvbuf = 0) { return testing::ConnectLoopback(port, rcvbuf); }

class DeferredAnswers : public ::testing::Test {
 protected:
  void SetUp() override {
    // Deferred: the answer is given later by the test (Give).
    router_.Add("GET", "/later", [this](Request& req) -> Response {
      if (!req.deferral) return Response::Text(500, "no deferral on a plain connection", "text/plain");
      {
        std::lock_guard lock(mu_);
        waiting_.push_back({req.deferral, req.deferral->Ticket()});
      }
      cv_.notify_all();
      return Response::Deferred();
    });
    // Deferred, but answered while the handler still runs.
    router_.Add("GET", "/now", [](Request& req) -> Response {
      req.deferral->Reply(req.deferral->Ticket(), Response::Text(200, "given while dispatching", "text/plain"));
      return Response::Deferred();
    });
    router_.Add("GET", "/plain", [](Request&) { return Response::Text(200, "plain", "text/plain"); });
    ServerOptions o;
    o.port = 0;
    o.threads = 4;
    server_ = std::make_unique<HttpServer>(router_, metrics_, o);
    ASSERT_TRUE(server_->Start());
  }
  void TearDown() override { server_->Stop(std::chrono::milliseconds(1000)); }

  // The n-th deferred request (0-based), once its handler has returned.
  std::pair<Deferral*, uint64_t> Waiting(size_t n) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_.size() > n; }));
    return waiting_.size() > n ? waiting_[n] : std::pair<Deferral*, uint64_t>{nullptr, 0};
  }

  Router router_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<Deferral*, uint64_t>> waiting_;
};

TEST_F(DeferredAnswers, LeaveInTheOrderOfTheirRequestsOnceEach) {
  const int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  const std::string wire =
      "GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, wire.data(), wire.size(), MSG_NOSIGNAL), static_cast<ssize_t>(wire.size()));
  auto [later, ticket] = Waiting(0);
  ASSERT_NE(later, nullptr);
  // The requests behind it wait for its answer, however long it takes.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread giver([later = later, ticket = ticket] {
    later->Reply(ticket, Response::Text(200, "given later", "text/plain"));
    later->Reply(ticket, Response::Text(200, "given twice", "text/plain"));  // dropped
  });
  giver.join();
  shutdown(fd, SHUT_WR);
  bool ended = false;
  std::vector<std::string> bodies = ReadAnswers(fd, 4, &ended);
  close(fd);
  EXPECT_TRUE(ended);
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0], "given later");
  EXPECT_EQ(bodies[1], "given while dispatching");
  EXPECT_EQ(bodies[2], "plain");
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(DeferredAnswers, AnAnswerForAnEarlierRequestIsDropped) {
  const int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  const std::string one = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, one.data(), one.size(), MSG_NOSIGNAL), static_cast<ssize_t>(one.size()));
  auto [later, first] = Waiting(0);
  ASSERT_NE(later, nullptr);
  later->Reply(first, Response::Text(200, "first", "text/plain"));
  ASSERT_EQ(ReadAnswers(fd, 1), std::vector<std::string>{"first"});
  ASSERT_EQ(send(fd, one.data(), one.size(), MSG_NOSIGNAL), static_cast<ssize_t>(one.size()));
  auto [again, second] = Waiting(1);
  ASSERT_EQ(again, later);  // one per connection
  EXPECT_NE(second, first);
  later->Reply(first, Response::Text(200, "stale", "text/plain"));  // the first request's ticket
  later->Reply(second, Response::Text(200, "second", "text/plain"));
  EXPECT_EQ(ReadAnswers(fd, 1), std::vector<std::string>{"second"});
  close(fd);
}

// An answer larger than the socket takes at once: the giving thread does not wait for the
// client; the connection's own thread sends the rest when the client reads, and the connection
// then ends after that answer.
TEST_F(DeferredAnswers, TheGivingThreadNeverWaitsForAClientThatDoesNotRead) {
  const int fd = ConnectTo(server_->port(), 4096);
  ASSERT_GE(fd, 0);
  const std::string one = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, one.data(), one.size(), MSG_NOSIGNAL), static_cast<ssize_t>(one.size()));
  auto [later, ticket] = Waiting(0);
  ASSERT_NE(later, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its handler has returned
  std::string big(16 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  const auto start = std::chrono::steady_clock::now();
  later->Reply(ticket, Response::Text(200, big, "text/plain"));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2)) << "the giving thread waited for the client";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  bool ended = false;
  std::vector<std::string> bodies = ReadAnswers(fd, 2, &ended);
  close(fd);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_TRUE(bodies[0] == big) << "the answer arrived damaged (" << bodies[0].size() << " bytes)";
  EXPECT_TRUE(ended);
  // The server goes on serving others.
  const int next = ConnectTo(server_->port());
  const std::string plain = "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(next, plain.data(), plain.size(), MSG_NOSIGNAL), static_cast<ssize_t>(plain.size()));
  EXPECT_EQ(ReadAnswers(next, 1), std::vector<std::string>{"plain"});
  close(next);
}

}  // namespace
}  // namespace authd::http
