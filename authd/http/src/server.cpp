#include "authd/http/server.h"

#include <Poco/Net/Context.h>
#include <Poco/BasicEvent.h>
#include <Poco/Delegate.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timespan.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "authd/base/crypto.h"
#include "authd/base/log.h"
#include "authd/http/chunked.h"
#include "authd/http/head.h"

namespace authd::http {
namespace {

constexpr auto kKeepAliveIdle = std::chrono::seconds(5);

// Request ids only need to be unique, not secret: a random prefix per process and a counter.
std::string NextRequestId() {
  static const std::string prefix = RandomId(6);
  static std::atomic<uint64_t> counter{0};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  std::string id = prefix;  // 8 characters, then 8 hex digits: 16 in all
  char digits[8];
  for (int i = 7; i >= 0; --i, n >>= 4) digits[i] = kHex[n & 15];
  id.append(digits, 8);
  return id;
}
// The most of a refused body authd reads away before closing (see Drain).
constexpr int64_t kMaxDrain = 1 << 20;

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<int>& n_;
};

// Poco's socket timeout bounds each recv, not a whole request: a client sending one header
// byte every few seconds would hold a worker for hours. The reaper gives every connection an
// absolute deadline for sending its request (head and body) and shuts the socket down when it
// passes (SECURITY.md H03). Thread-safe.
class DeadlineReaper {
 public:
  using Clock = std::chrono::steady_clock;

  // One connection's deadline; set without a lock on every request, read by the reaper.
  struct Slot {
    explicit Slot(const Poco::Net::StreamSocket& s) : socket(s) {}
    void Set(Clock::time_point t) { deadline.store(t.time_since_epoch().count(), std::memory_order_relaxed); }
    // No deadline while the server itself works on the request.
    void Pause() { deadline.store(Clock::duration::max().count(), std::memory_order_relaxed); }
    Poco::Net::StreamSocket socket;
    std::atomic<Clock::rep> deadline{Clock::duration::max().count()};
  };

  DeadlineReaper() : thread_([this] { Run(); }) {}
  ~DeadlineReaper() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::shared_ptr<Slot> Add(const Poco::Net::StreamSocket& socket, Clock::time_point deadline) {
    auto slot = std::make_shared<Slot>(socket);
    slot->Set(deadline);
    std::lock_guard lock(mu_);
    slots_.push_back(slot);
    return slot;
  }
  void Remove(const std::shared_ptr<Slot>& slot) {
    std::lock_guard lock(mu_);
    auto it = std::find(slots_.begin(), slots_.end(), slot);
    if (it == slots_.end()) return;
    *it = std::move(slots_.back());
    slots_.pop_back();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(200));
      const auto now = Clock::now().time_since_epoch().count();
      for (auto& slot : slots_) {
        if (slot->deadline.load(std::memory_order_relaxed) <= now) {
          slot->Pause();
          try {
            slot->socket.shutdown();
          } catch (...) {
          }
        }
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::shared_ptr<Slot>> slots_;
  std::thread thread_;  // last: started once the members it uses exist
};

// Poco's HTTPServerSession (keep-alive state, timeouts, the socket), read through a buffer of
// our own so that a request head is taken from it in runs while what follows the head (a body,
// or the next pipelined request) stays buffered, and a pipelined request already read needs no
// wait on the socket. Poco's own buffer is never filled: every read goes through these methods.
class Session final : public Poco::Net::HTTPServerSession {
 public:
  using HTTPServerSession::HTTPServerSession;
  bool HasBuffered() const { return at_ < end_; }
  // The next byte (0-255), or eof at the socket's end.
  int Get() {
    if (at_ == end_ && !Fill()) return std::char_traits<char>::eof();
    return static_cast<unsigned char>(buf_[at_++]);
  }
  // Up to `n` bytes: what the buffer holds, or else one read from the socket straight into `out`;
  // 0 at its end.
  int ReadSome(char* out, std::streamsize n) {
    if (at_ == end_) return receive(out, static_cast<int>(std::min<std::streamsize>(n, kBufferSize)));
    const size_t k = std::min(static_cast<size_t>(n), end_ - at_);
    std::memcpy(out, buf_.data() + at_, k);
    at_ += k;
    return static_cast<int>(k);
  }

  enum class HeadRead { kOk, kClosed, kCut, kTooLarge };
  // Reads one request head into `reader`, taking from the buffer exactly the bytes of the head.
  // kClosed: the client closed before a byte of it.
  HeadRead ReadHead(HeadReader& reader) {
    reader.Reset();
    while (at_ < end_ || Fill()) {
      size_t taken = 0;
      const HeadReader::Step step = reader.Push(std::string_view(buf_.data() + at_, end_ - at_), taken);
      at_ += taken;
      if (step == HeadReader::Step::kDone) return HeadRead::kOk;
      if (step == HeadReader::Step::kTooLarge) return HeadRead::kTooLarge;
    }
    return reader.started() ? HeadRead::kCut : HeadRead::kClosed;
  }

 private:
  static constexpr size_t kBufferSize = 16384;
  // One read from the socket into the emptied buffer; false at the socket's end.
  bool Fill() {
    if (buf_.empty()) buf_.resize(kBufferSize);
    at_ = end_ = 0;
    const int n = receive(buf_.data(), static_cast<int>(buf_.size()));
    if (n <= 0) return false;
    end_ = static_cast<size_t>(n);
    return true;
  }
  std::vector<char> buf_;
  size_t at_ = 0;   // next unread byte
  size_t end_ = 0;  // end of what was read
};

class PendingAnswer;

}  // namespace

struct HttpServer::Impl {
  const Router& router;
  Metrics& metrics;
  ServerOptions options;
  std::atomic<int> in_flight{0};
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::TCPServer> server;
  // Fired once by Stop: keep-alive connections close after their current request.
  Poco::BasicEvent<const bool> stopping;
  DeadlineReaper reaper;
  uint16_t port = 0;
  bool tls = false;

  Impl(const Router& r, Metrics& m, ServerOptions o) : router(r), metrics(m), options(std::move(o)) {}

  // Discards what is left of a refused body (at most `limit` bytes, for at most a second, and
  // only while it keeps arriving), so that closing the connection sends FIN rather than RST and
  // the client can read our answer.
  static void Drain(Session& session, Poco::Net::StreamSocket& socket, int64_t limit) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    char buf[16384];
    int64_t total = 0;
    try {
      socket.setReceiveTimeout(Poco::Timespan(0, 250000));
      while (total < limit && std::chrono::steady_clock::now() < until) {
        const int n = session.ReadSome(buf, static_cast<std::streamsize>(std::min<int64_t>(sizeof(buf), limit - total)));
        if (n <= 0) break;
        total += n;
      }
    } catch (const Poco::Exception&) {
    }
  }

  // A chunked body, decoded strictly (chunked.h): framing a byte at a time, content in runs.
  std::optional<Response> ReadChunked(Session& session, Poco::Net::StreamSocket& socket, std::string& body,
                                      std::chrono::steady_clock::time_point deadline) {
    ChunkedDecoder decoder;
    char buf[8192];
    while (!decoder.done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return Response::Problem(ErrorCode::kRequestTimeout, "the body arrived too slowly");
      }
      if (const uint64_t want = decoder.DataWanted(); want > 0) {
        if (static_cast<int64_t>(body.size() + want) > options.max_body) {
          Drain(session, socket, kMaxDrain - static_cast<int64_t>(body.size()));
          return TooLarge();
        }
        const int n = session.ReadSome(buf, static_cast<std::streamsize>(std::min<uint64_t>(want, sizeof(buf))));
        if (n <= 0) return Response::Problem(ErrorCode::kBadRequest, "the chunked body ended early");
        decoder.Data(static_cast<uint64_t>(n));
        body.append(buf, static_cast<size_t>(n));
        continue;
      }
      const int ch = session.Get();
      if (ch == std::char_traits<char>::eof()) return Response::Problem(ErrorCode::kBadRequest, "the chunked body ended early");
      if (!decoder.Framing(static_cast<char>(ch))) {
        return Response::Problem(ErrorCode::kBadRequest, "the chunked body is malformed: " + decoder.error());
      }
    }
    return std::nullopt;
  }

  Response TooLarge() const {
    return Response::Problem(ErrorCode::kBodyTooLarge, "the body may be at most " + std::to_string(options.max_body) + " bytes");
  }

  // Reads the body within the size limit and the deadline. Returns an error response to send
  // (and close) if the body is too large, too slow or malformed.
  std::optional<Response> ReadBody(const BodyFraming& framing, Session& session, Poco::Net::StreamSocket& socket,
                                   std::string& body) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.request_timeout_seconds);
    if (framing.kind == BodyFraming::Kind::kNone) return std::nullopt;  // RFC 9112 §6.3: length 0
    if (framing.kind == BodyFraming::Kind::kLength && framing.length == 0) return std::nullopt;
    // RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" waits for a go-ahead before it
    // sends the body (curl does so for bodies over 1 KiB); one refused from its head gets the
    // final answer instead, and sends nothing that would need reading away.
    if (framing.kind == BodyFraming::Kind::kLength && framing.length > options.max_body) {
      // Refused from the header alone; a modest excess is read away (not kept) first.
      if (framing.length <= kMaxDrain && !framing.expect_continue) Drain(session, socket, framing.length);
      return TooLarge();
    }
    if (framing.expect_continue) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      try {
        if (socket.sendBytes(kContinue.data(), static_cast<int>(kContinue.size())) != static_cast<int>(kContinue.size())) {
          return Response::Problem(ErrorCode::kBadRequest, "the client stopped reading");
        }
      } catch (const Poco::Exception&) {
        return Response::Problem(ErrorCode::kBadRequest, "the client stopped reading");
      }
    }
    try {
      if (framing.kind == BodyFraming::Kind::kChunked) return ReadChunked(session, socket, body, deadline);
      const auto length = static_cast<size_t>(framing.length);
      body.resize(length);
      size_t got = 0;
      while (got < length) {
        if (std::chrono::steady_clock::now() > deadline) {
          return Response::Problem(ErrorCode::kRequestTimeout, "the body arrived too slowly");
        }
        const int n = session.ReadSome(body.data() + got, static_cast<std::streamsize>(length - got));
        if (n <= 0) {
          body.resize(got);
          return Response::Problem(ErrorCode::kBadRequest, "the body is shorter than its Content-Length");
        }
        got += static_cast<size_t>(n);
      }
    } catch (const Poco::TimeoutException&) {
      return Response::Problem(ErrorCode::kRequestTimeout, "the body arrived too slowly");
    } catch (const Poco::Exception&) {
      return Response::Problem(ErrorCode::kBadRequest, "the body could not be read");
    }
    return std::nullopt;
  }

  // One request whose head (the bytes up to its empty line) has been read from `session`; its
  // body, if any, follows there. `remote` is the peer's address, read once per connection;
  // `pending`, on plain connections, takes answers the handler defers. Returns whether the
  // connection may carry another request (`may_keep_alive` and what the request and the
  // response allow).
  bool Handle(Session& session, std::string_view head, const std::string& remote, bool may_keep_alive,
              DeadlineReaper::Slot& slot, Poco::Net::StreamSocket& socket, PendingAnswer* pending);

  // A request head refused before it was parsed (past its size limit, or cut short by the
  // client's end of sending): a problem+json 400, and the connection closes.
  void RefuseHead(Poco::Net::StreamSocket& socket, std::string detail) {
    const auto start = std::chrono::steady_clock::now();
    Request req;
    req.method = "-";
    req.route = "rejected";
    req.request_id = NextRequestId();
    Response resp = Response::Problem(ErrorCode::kBadRequest, std::move(detail));
    Observe(req, resp, start);
    try {
      Write(req, resp, false, socket);
    } catch (...) {
    }
  }

  void Observe(const Request& req, const Response& resp, std::chrono::steady_clock::time_point start) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics.ObserveRequest(req.route, req.method, resp.status, seconds);
    const LogLevel level = resp.status >= 500 ? LogLevel::kWarn : LogLevel::kInfo;
    if (LogEnabled(level)) {
      Log(level, "request",
          {{"method", req.method}, {"route", req.route}, {"status", resp.status},
           {"ms", static_cast<int64_t>(seconds * 1000.0 * 1000.0) / 1000.0}, {"request_id", req.request_id},
           {"remote", req.remote_address}});
    }
  }

  // The Date header's value, formatted once a second per thread.
  static const std::string& Date() {
    thread_local int64_t second = -1;
    thread_local std::string text;
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    if (now != second) {
      second = now;
      text = HttpDate(now);
    }
    return text;
  }

  // Head and body, as they leave in one send.
  std::string Wire(const Request& req, const Response& resp, bool keep_alive) {
    ResponseFrame frame;
    frame.request_id = req.request_id;
    frame.date = Date();
    frame.tls = tls;
    frame.keep_alive = keep_alive;
    frame.body = resp.status != 204 && req.method != "HEAD";
    std::string wire;
    wire.reserve(640 + (frame.body ? resp.body.size() : 0));
    AppendResponseHead(resp, frame, wire);
    if (frame.body) wire += resp.body;
    return wire;
  }

  static void SendAll(Poco::Net::StreamSocket& socket, std::string_view wire) {
    const char* p = wire.data();
    size_t left = wire.size();
    while (left > 0) {
      const int n = socket.sendBytes(p, static_cast<int>(std::min<size_t>(left, 1 << 30)));
      if (n <= 0) throw Poco::Net::NetException("the client stopped reading");
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

  void Write(const Request& req, const Response& resp, bool keep_alive, Poco::Net::StreamSocket& socket) {
    SendAll(socket, Wire(req, resp, keep_alive));
  }
};

namespace {

// The answer of a plain connection's request whose handler deferred it (message.h, Deferral):
// given by the store's writer thread right after the commit, while the connection's own thread
// already waits for the next request. One per connection, one request at a time: the
// connection's thread settles it before it answers another request and before it ends, so
// answers leave in order. The writer never waits for a client: what the socket does not take at
// once is left to the connection's thread, whose read is then ended so that it sends it.
class PendingAnswer final : public Deferral {
 public:
  PendingAnswer(HttpServer::Impl& impl, Poco::Net::StreamSocket& socket) : impl_(impl), socket_(socket) {}

  uint64_t Ticket() const override { return ticket_.load(std::memory_order_relaxed); }

  // Before a request is dispatched.
  void Begin() {
    std::lock_guard lock(mu_);
    ticket_.fetch_add(1, std::memory_order_relaxed);
    state_ = State::kDispatching;
    ready_.reset();
  }

  // After the handler returned Response::Deferred(): its answer if it came already (the
  // connection's thread sends it); otherwise the writer will, and nullopt.
  std::optional<Response> Handoff(const Request& req, bool keep_alive, std::chrono::steady_clock::time_point start) {
    std::lock_guard lock(mu_);
    if (ready_) {
      state_ = State::kIdle;
      std::optional<Response> r = std::move(ready_);
      ready_.reset();
      return r;
    }
    meta_.method = req.method;
    meta_.route = req.route;
    meta_.request_id = req.request_id;
    meta_.remote_address = req.remote_address;
    keep_alive_ = keep_alive;
    start_ = start;
    state_ = State::kAwaiting;
    ++impl_.in_flight;
    return std::nullopt;
  }

  // The handler failed after all: nothing it queued may answer a later request.
  void Abandon() {
    std::lock_guard lock(mu_);
    ticket_.fetch_add(1, std::memory_order_relaxed);
    state_ = State::kIdle;
    ready_.reset();
  }

  void Reply(uint64_t ticket, Response resp) override {
    std::lock_guard lock(mu_);
    if (ticket != ticket_.load(std::memory_order_relaxed)) return;
    if (state_ == State::kDispatching) {
      ready_ = std::move(resp);
      return;
    }
    if (state_ != State::kAwaiting) return;
    try {
      impl_.Observe(meta_, resp, start_);
      std::string wire = impl_.Wire(meta_, resp, keep_alive_);
      const size_t sent = SendNow(wire);
      if (sent < wire.size()) {
        rest_.assign(wire, sent, std::string::npos);
        ::shutdown(socket_.impl()->sockfd(), SHUT_RD);
      }
    } catch (const std::exception&) {
      // Out of memory: the connection ends, its thread is not left waiting.
      ::shutdown(socket_.impl()->sockfd(), SHUT_RDWR);
    }
    state_ = State::kIdle;
    --impl_.in_flight;
    cv_.notify_all();
  }

  // Waits until a deferred answer has left, sending what the writer left of it (the
  // connection then ends after it: the writer ended its read).
  void Settle() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return state_ != State::kAwaiting; });
    if (rest_.empty()) return;
    std::string rest = std::move(rest_);
    rest_.clear();
    lock.unlock();
    try {
      HttpServer::Impl::SendAll(socket_, rest);
    } catch (const Poco::Exception&) {
    }
  }

 private:
  enum class State { kIdle, kDispatching, kAwaiting };

  // What the socket takes now, without waiting; a failed send counts as all sent (the client
  // is gone, and the connection's own read will find out).
  size_t SendNow(const std::string& wire) {
    size_t done = 0;
    while (done < wire.size()) {
      const ssize_t n = ::send(socket_.impl()->sockfd(), wire.data() + done, wire.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return done;
      return wire.size();
    }
    return done;
  }

  HttpServer::Impl& impl_;
  Poco::Net::StreamSocket& socket_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> ticket_{0};  // changed under mu_
  State state_ = State::kIdle;
  std::optional<Response> ready_;   // an answer given while its handler still ran
  Request meta_;                    // what the answer's frame and log line need of its request
  bool keep_alive_ = true;
  std::chrono::steady_clock::time_point start_;
  std::string rest_;                // what the writer could not send without waiting
};

}  // namespace

bool HttpServer::Impl::Handle(Session& session, std::string_view head, const std::string& remote,
                              bool may_keep_alive, DeadlineReaper::Slot& slot, Poco::Net::StreamSocket& socket,
                              PendingAnswer* pending) {
  InFlight guard(in_flight);
  const auto start = std::chrono::steady_clock::now();
  // The head has arrived; the body must follow within the request deadline.
  slot.Set(start + std::chrono::seconds(options.request_timeout_seconds));
  Request req;
  req.tls = tls;
  req.remote_address = remote;
  BodyFraming framing;
  std::optional<Response> early = ParseHead(head, req, framing);
  const std::string_view incoming_id = req.Header("x-request-id");
  req.request_id = IsSafeRequestId(incoming_id) ? std::string(incoming_id) : NextRequestId();
  if (!early) early = ReadBody(framing, session, socket, req.body);
  slot.Pause();

  Response resp;
  if (early) {
    resp = std::move(*early);
    resp.close = true;
    req.route = "rejected";
  } else {
    if (pending) {
      pending->Begin();
      req.deferral = pending;
    }
    try {
      resp = router.Dispatch(req);
    } catch (const std::exception& e) {
      if (pending) pending->Abandon();
      Log(LogLevel::kError, "handler_exception", {{"route", req.route}, {"request_id", req.request_id}});
      resp = Response::Problem(ErrorCode::kInternal, "the server failed; the request id is in the logs");
    }
  }
  if (resp.deferred) {
    // A deferred answer never closes the connection itself.
    const bool keep_alive = may_keep_alive && framing.keep_alive;
    std::optional<Response> ready = pending ? pending->Handoff(req, keep_alive, start) : std::nullopt;
    if (!ready && pending) {
      slot.Set(std::chrono::steady_clock::now() + kKeepAliveIdle + std::chrono::seconds(options.request_timeout_seconds));
      return keep_alive;
    }
    resp = ready ? std::move(*ready) : Response::Problem(ErrorCode::kInternal, "the answer was lost");
  }
  const bool keep_alive = may_keep_alive && framing.keep_alive && !resp.close;
  // Counted before it is sent, so that a client that has its answer finds it in /metrics.
  Observe(req, resp, start);
  Write(req, resp, keep_alive, socket);
  // The next request on this keep-alive connection: idle time plus the request deadline.
  slot.Set(std::chrono::steady_clock::now() + kKeepAliveIdle + std::chrono::seconds(options.request_timeout_seconds));
  return keep_alive;
}

namespace {

// One HTTP/1.1 connection: Poco's session (its buffer) with authd's head parser and body
// decoding, in the loop of Poco's HTTPServerConnection with its per-request costs removed. On
// plain sockets nothing waits for the next keep-alive request before reading it: the read itself
// waits, bounded by a receive timeout of the keep-alive idle time (Poco builds and closes an
// epoll set per wait, four system calls per request); TLS sockets keep Poco's wait, as OpenSSL
// may hold bytes already read. The peer's address is read once per connection (Poco's server
// request asks the kernel for both addresses on every request), no handler or response object
// is allocated per request, and the response head is written straight into the buffer that is
// sent. The reaper watches the socket from its first byte to its end, so a request as a whole
// still gets only the request deadline.
class Connection final : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params, HttpServer::Impl& impl)
      : TCPServerConnection(socket), params_(std::move(params)), impl_(impl) {
    impl_.stopping += Poco::delegate(this, &Connection::OnServerStopped);
  }
  ~Connection() override {
    impl_.stopping -= Poco::delegate(this, &Connection::OnServerStopped);
    if (slot_) impl_.reaper.Remove(slot_);
  }

  void run() override {
    slot_ = impl_.reaper.Add(socket(), std::chrono::steady_clock::now() +
                                           std::chrono::seconds(impl_.options.request_timeout_seconds));
    std::string remote;
    try {
      remote = socket().peerAddress().host().toString();  // once, not per request
    } catch (const Poco::Exception&) {
      return;  // gone before its first request
    }
    Session session(socket(), params_);
    if (!impl_.tls) socket().setReceiveTimeout(std::min(params_->getTimeout(), params_->getKeepAliveTimeout()));
    // The last answer a connection may carry says `Connection: close`, so a client never sends a
    // request (perhaps not idempotent) on a connection the server is about to close.
    const int max_requests = params_->getMaxKeepAliveRequests();
    int answered = 0;
    HeadReader reader;  // each request's head; its buffer is kept for the next
    // Deferred answers on plain connections only: a TLS session is not written from two threads.
    std::optional<PendingAnswer> pending;
    if (!impl_.tls) pending.emplace(impl_, socket());
    for (bool first = true; !stopped_; first = false) {
      if (!first && !session.getKeepAlive()) break;
      if (impl_.tls && !session.HasBuffered() &&
          !socket().poll(first ? params_->getTimeout() : params_->getKeepAliveTimeout(), Poco::Net::Socket::SELECT_READ)) {
        break;
      }
      try {
        std::lock_guard lock(mu_);
        if (stopped_) break;
        const Session::HeadRead read = session.ReadHead(reader);
        if (pending) pending->Settle();  // the previous answer leaves before anything else
        if (read == Session::HeadRead::kTooLarge) impl_.RefuseHead(socket(), "the request head is longer than 64 KiB");
        // The client stopped sending inside a head; it may still read the answer.
        if (read == Session::HeadRead::kCut) impl_.RefuseHead(socket(), "the request head ended before its empty line");
        if (read != Session::HeadRead::kOk) break;  // kClosed: the client closed between requests
        ++answered;
        const bool may_keep_alive = params_->getKeepAlive() && (max_requests <= 0 || answered < max_requests);
        session.setKeepAlive(impl_.Handle(session, reader.head(), remote, may_keep_alive, *slot_, socket(),
                                          pending ? &*pending : nullptr));
      } catch (const Poco::Exception&) {
        break;  // a network failure or the reaper's shutdown: the connection is over
      }
    }
    if (pending) pending->Settle();
  }

 private:
  void OnServerStopped(const bool& abort_current) {
    stopped_ = true;
    // Without abort, the request in progress finishes first (it holds mu_).
    std::unique_lock lock(mu_, std::defer_lock);
    if (!abort_current) lock.lock();
    try {
      socket().shutdown();
    } catch (...) {
    }
  }

  Poco::Net::HTTPServerParams::Ptr params_;
  HttpServer::Impl& impl_;
  std::shared_ptr<DeadlineReaper::Slot> slot_;
  std::mutex mu_;
  std::atomic<bool> stopped_{false};
};

class WatchedConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  WatchedConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, HttpServer::Impl& impl)
      : params_(std::move(params)), impl_(impl) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, params_, impl_);
  }

 private:
  Poco::Net::HTTPServerParams::Ptr params_;
  HttpServer::Impl& impl_;
};

// When every worker is busy and the queue is full, answer 503 at once instead of letting the
// connection hang (SECURITY.md P5, H04/H10). Plain HTTP only: a TLS socket is just closed.
class OverloadFilter final : public Poco::Net::TCPServerConnectionFilter {
 public:
  OverloadFilter(HttpServer::Impl& impl, bool tls) : impl_(impl), tls_(tls) {}
  bool accept(const Poco::Net::StreamSocket& socket) override {
    auto* server = impl_.server.get();
    if (!server || server->queuedConnections() < impl_.options.max_queued) return true;
    impl_.metrics.ObserveRefusedConnection();
    if (!tls_) {
      static const std::string kBody =
          "{\"type\":\"urn:authd:problem:overloaded\",\"title\":\"Server overloaded\",\"status\":503,"
          "\"code\":\"overloaded\",\"detail\":\"every worker is busy; retry shortly\"}";
      static const std::string kResponse =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\n"
          "Retry-After: 1\r\nConnection: close\r\nContent-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
      try {
        Poco::Net::StreamSocket s(socket);
        s.setBlocking(false);
        s.sendBytes(kResponse.data(), static_cast<int>(kResponse.size()));
      } catch (...) {
      }
    }
    return false;
  }

 private:
  HttpServer::Impl& impl_;
  bool tls_;
};

}  // namespace

HttpServer::HttpServer(const Router& router, Metrics& metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>(router, metrics, std::move(options))) {}

HttpServer::~HttpServer() {
  if (impl_->server) Stop(std::chrono::milliseconds(0));
}

Status HttpServer::Start() {
  const auto& o = impl_->options;
  try {
    Poco::Net::SocketAddress address(o.host, o.port);
    std::unique_ptr<Poco::Net::ServerSocket> socket;
    if (!o.tls_cert.empty() && !o.tls_key.empty()) {
      Poco::Net::initializeSSL();
      Poco::Net::Context::Params params;
      params.privateKeyFile = o.tls_key;
      params.certificateFile = o.tls_cert;
      params.verificationMode = Poco::Net::Context::VERIFY_NONE;
      params.loadDefaultCAs = false;
      // TLS 1.2 with forward-secret AEAD suites only; TLS 1.3 suites are AEAD by definition.
      params.cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                          "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
      params.dhUse2048Bits = true;
      Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, params);
      ctx->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                            Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
      ctx->preferServerCiphers();
      auto secure = std::make_unique<Poco::Net::SecureServerSocket>(ctx);
      secure->bind(address, true, false);
      secure->listen(128);
      socket = std::move(secure);
      impl_->tls = true;
    } else {
      socket = std::make_unique<Poco::Net::ServerSocket>();
      socket->bind(address, true, false);
      socket->listen(128);
    }
    impl_->port = socket->address().port();

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(o.threads);
    params->setMaxQueued(o.max_queued);
    params->setTimeout(Poco::Timespan(o.request_timeout_seconds, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setMaxKeepAliveRequests(10000);
    impl_->pool = std::make_unique<Poco::ThreadPool>(2, o.threads + 2, 60, 256 * 1024);
    Poco::Net::HTTPServerParams::Ptr shared_params(params);
    impl_->server = std::make_unique<Poco::Net::TCPServer>(new WatchedConnectionFactory(shared_params, *impl_),
                                                           *impl_->pool, *socket, shared_params);
    impl_->server->setConnectionFilter(new OverloadFilter(*impl_, impl_->tls));
    impl_->server->start();
  } catch (const Poco::Exception& e) {
    return Err(ErrorCode::kInvalidArgument, "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                                                e.displayText());
  }
  Log(LogLevel::kInfo, "listening",
      {{"address", o.host}, {"port", impl_->port}, {"tls", impl_->tls}, {"threads", o.threads}});
  return Ok();
}

uint16_t HttpServer::port() const { return impl_->port; }
int HttpServer::in_flight() const { return impl_->in_flight.load(); }

void HttpServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->server) return;
  impl_->server->stop();
  // Tell keep-alive connections to close after their current request (what HTTPServer::stopAll
  // does for its own factory).
  const bool abort_current = false;
  impl_->stopping(this, abort_current);
  const auto until = std::chrono::steady_clock::now() + grace;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->pool->joinAll();
  impl_->server.reset();
}

}  // namespace authd::http
