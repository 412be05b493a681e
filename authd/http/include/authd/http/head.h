// Request heads as they arrive on a connection: authd's own strict HTTP/1.x head parser, kept
// apart from the socket so that it can be fuzzed and tested on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "authd/http/message.h"

namespace authd::http {

// The limits of a request head (SECURITY.md H05). A head past any of them is refused with a 400.
inline constexpr size_t kMaxHeadBytes = 64 * 1024;  // request line, fields and line ends together
inline constexpr size_t kMaxHeaderFields = 100;
inline constexpr size_t kMaxHeaderName = 256;
inline constexpr size_t kMaxHeaderValue = 8192;
inline constexpr size_t kMaxRequestTarget = 16384;
inline constexpr size_t kMaxMethod = 32;

// How the body that follows a head is delimited, and what the head asks of the connection.
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  int64_t length = 0;            // kLength: the Content-Length
  bool http11 = false;           // HTTP/1.1 (else 1.0)
  bool keep_alive = false;       // what the request allows: 1.1 unless "Connection: close", 1.0 only with keep-alive
  bool expect_continue = false;  // HTTP/1.1 "Expect: 100-continue"
};

// Whether `bytes`, a head read so far without the empty lines that may precede it, now ends
// with the empty line that ends a head. Lines end in CRLF or a bare LF (RFC 9112 §2.2).
bool EndsHead(std::string_view bytes);

// A character a field value (or a chunk extension or trailer line) may hold (RFC 9110 §5.5):
// visible ASCII, space, tab and obs-text; no other controls.
bool IsFieldValueChar(char c);

// Collects one request head as it arrives, a byte or a run at a time, so that nothing past it is taken:
// empty lines before it are skipped (and count toward kMaxHeadBytes).
class HeadReader {
 public:
  enum class Step { kMore, kDone, kTooLarge };
  Step Push(char c);
  // The same as pushing the bytes of `bytes` one by one up to the first that does not answer
  // kMore: sets `taken` to how many were consumed (the rest belong to what follows the head).
  Step Push(std::string_view bytes, size_t& taken);
  const std::string& head() const { return head_; }
  bool started() const { return !head_.empty(); }
  // Ready for the next head (the buffer's capacity is kept).
  void Reset() {
    head_.clear();
    skipped_ = 0;
  }

 private:
  std::string head_;
  size_t skipped_ = 0;
};

// Parses one request head: `head` holds exactly the bytes up to and including the empty line
// (leading empty lines are skipped, RFC 9112 §2.2). Fills method, path, query and headers (names
// lower-cased, repeats joined by ", ") of `req`, and `framing`. Strict where a lenient reading
// lets two parties see different requests (RFC 9112 §6.3, §11.2): returns a 400 problem for a
// malformed request line or field, whitespace before a field's colon, a folded line, a bare CR,
// a version other than HTTP/1.0 or 1.1, an HTTP/1.1 request without exactly one Host, a
// Content-Length that is not one plain decimal number, a Transfer-Encoding other than
// "chunked" (or any in HTTP/1.0), both Transfer-Encoding and Content-Length, a query string with
// a bad percent-escape, or any limit above passed. What could be read is filled either way.
std::optional<Response> ParseHead(std::string_view head, Request& req, BodyFraming& framing);

}  // namespace authd::http
