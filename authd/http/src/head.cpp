#include "authd/http/head.h"

#include <string>

namespace authd::http {
namespace {

// RFC 9110 §5.6.2 token characters.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// A request target's characters: visible ASCII only (RFC 3986 characters and a few more that
// clients send unescaped; whitespace and controls never).
bool IsTargetChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c > 0x20 && c < 0x7f;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<Response> Malformed(std::string detail) {
  return Response::Problem(ErrorCode::kBadRequest, std::move(detail));
}

// The lines of a head, each without its CRLF or LF. A CR anywhere else is refused.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}
  // False when no complete line is left; `bare_cr` is set for a line holding a CR.
  bool Next(std::string_view& line, bool& bare_cr) {
    const size_t lf = rest_.find('\n');
    if (lf == std::string_view::npos) return false;
    line = rest_.substr(0, lf);
    rest_.remove_prefix(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bare_cr = line.find('\r') != std::string_view::npos;
    return true;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

std::optional<Response> ParseRequestLine(std::string_view line, Request& req, std::string_view& target,
                                         BodyFraming& framing) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Malformed("the request line must be: method, target, version");
  const std::string_view method = line.substr(0, sp1);
  target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > kMaxMethod) return Malformed("the method is empty or too long");
  for (char c : method) {
    if (!IsTchar(c)) return Malformed("the method has a character a token may not");
  }
  if (target.empty() || target.size() > kMaxRequestTarget) {
    return Malformed("the request target is empty or longer than 16 KiB");
  }
  for (char c : target) {
    if (!IsTargetChar(c)) return Malformed("the request target has a space or control character");
  }
  req.method = std::string(method);
  const bool shaped = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
                      version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9';
  if (!shaped) return Malformed("the request line must end in an HTTP version");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return Response::Problem(ErrorCode::kBadRequest, "only HTTP/1.0 and HTTP/1.1 are spoken here");
  }
  framing.http11 = version == "HTTP/1.1";
  return std::nullopt;
}

// How many fields of the names that frame a request a head had.
struct FramingFields {
  size_t hosts = 0;
  size_t lengths = 0;
  size_t codings = 0;
};

// One field line: name, colon, optional whitespace, value. Adds it to req.headers.
std::optional<Response> ParseField(std::string_view line, Request& req, FramingFields& counts) {
  if (line.front() == ' ' || line.front() == '\t') return Malformed("folded header lines are not accepted");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Malformed("a header line has no name and colon");
  const std::string_view name = line.substr(0, colon);
  if (name.size() > kMaxHeaderName) return Malformed("a header name is longer than 256 bytes");
  for (char c : name) {
    if (!IsTchar(c)) return Malformed("a header name has a character a token may not (no space before the colon)");
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (value.size() > kMaxHeaderValue) return Malformed("a header value is longer than 8 KiB");
  for (char c : value) {
    if (!IsFieldValueChar(c)) return Malformed("a header value has a control character");
  }
  std::string key(name);
  for (char& c : key) c = Lower(c);
  counts.hosts += key == "host";
  counts.lengths += key == "content-length";
  counts.codings += key == "transfer-encoding";
  auto [it, inserted] = req.headers.try_emplace(std::move(key), value);
  if (!inserted) it->second.append(", ").append(value);
  return std::nullopt;
}

// Connection options (RFC 9112 §9.3): whether the connection may carry another request.
bool KeepAlive(std::string_view connection, bool http11) {
  bool close = false;
  bool keep = false;
  while (!connection.empty()) {
    const size_t comma = connection.find(',');
    const std::string_view option = TrimOws(connection.substr(0, comma));
    close = close || EqualsIgnoringCase(option, "close");
    keep = keep || EqualsIgnoringCase(option, "keep-alive");
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return !close && (http11 || keep);
}

std::optional<Response> ReadFraming(const Request& req, const FramingFields& counts, BodyFraming& framing) {
  if (counts.hosts > 1 || (framing.http11 && counts.hosts == 0)) {
    return Malformed("an HTTP/1.1 request needs exactly one Host header");
  }
  const std::string_view te = req.Header("transfer-encoding");
  const bool has_te = counts.codings > 0;
  if (has_te && counts.lengths > 0) return Malformed("a request may not carry both Transfer-Encoding and Content-Length");
  if (has_te) {
    if (!framing.http11) return Malformed("HTTP/1.0 has no Transfer-Encoding");
    if (!EqualsIgnoringCase(te, "chunked")) return Malformed("only the chunked transfer coding is accepted");
    framing.kind = BodyFraming::Kind::kChunked;
  } else if (counts.lengths > 0) {
    const std::string_view cl = req.Header("content-length");
    if (counts.lengths > 1 || cl.empty() || cl.size() > 18) return Malformed("Content-Length must be one decimal number");
    int64_t n = 0;
    for (char c : cl) {
      if (c < '0' || c > '9') return Malformed("Content-Length must be one decimal number");
      n = n * 10 + (c - '0');
    }
    framing.kind = BodyFraming::Kind::kLength;
    framing.length = n;
  }
  framing.keep_alive = KeepAlive(req.Header("connection"), framing.http11);
  framing.expect_continue = framing.http11 && EqualsIgnoringCase(TrimOws(req.Header("expect")), "100-continue");
  return std::nullopt;
}

}  // namespace

bool EndsHead(std::string_view b) {
  const size_t n = b.size();
  return n >= 2 && b[n - 1] == '\n' && (b[n - 2] == '\n' || (n >= 3 && b[n - 2] == '\r' && b[n - 3] == '\n'));
}

bool IsFieldValueChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

HeadReader::Step HeadReader::Push(char c) {
  if (head_.empty() && (c == '\r' || c == '\n')) {
    return ++skipped_ > kMaxHeadBytes ? Step::kTooLarge : Step::kMore;
  }
  head_.push_back(c);
  if (c == '\n' && EndsHead(head_)) return Step::kDone;
  return head_.size() + skipped_ > kMaxHeadBytes ? Step::kTooLarge : Step::kMore;
}

HeadReader::Step HeadReader::Push(std::string_view bytes, size_t& taken) {
  taken = 0;
  while (taken < bytes.size()) {
    if (head_.empty()) {
      const char c = bytes[taken];
      if (c == '\r' || c == '\n') {
        ++taken;
        if (++skipped_ > kMaxHeadBytes) return Step::kTooLarge;
        continue;
      }
    }
    // The bytes up to the next line feed; past the limit, only as many as reach one over it.
    const std::string_view rest = bytes.substr(taken);
    const size_t lf = rest.find('\n');
    const size_t plain = lf == std::string_view::npos ? rest.size() : lf;
    const size_t room = kMaxHeadBytes - std::min(kMaxHeadBytes, head_.size() + skipped_);
    if (plain > room) {
      head_.append(rest.substr(0, room + 1));
      taken += room + 1;
      return Step::kTooLarge;
    }
    head_.append(rest.substr(0, plain));
    taken += plain;
    if (lf == std::string_view::npos) return Step::kMore;
    head_.push_back('\n');
    ++taken;
    if (EndsHead(head_)) return Step::kDone;
    if (head_.size() + skipped_ > kMaxHeadBytes) return Step::kTooLarge;
  }
  return Step::kMore;
}

std::optional<Response> ParseHead(std::string_view head, Request& req, BodyFraming& framing) {
  framing = BodyFraming{};
  if (head.size() > kMaxHeadBytes) return Malformed("the request head is longer than 64 KiB");
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) head.remove_prefix(1);
  Lines lines(head);
  std::string_view line;
  bool bare_cr = false;
  if (!lines.Next(line, bare_cr)) return Malformed("the request head is incomplete");
  if (bare_cr) return Malformed("a bare CR in the request line");
  std::string_view target;
  if (auto problem = ParseRequestLine(line, req, target, framing)) return problem;
  const size_t qpos = target.find('?');
  req.path = std::string(target.substr(0, qpos));
  size_t fields = 0;
  FramingFields counts;
  while (true) {
    if (!lines.Next(line, bare_cr)) return Malformed("the request head is incomplete");
    if (bare_cr) return Malformed("a bare CR in a header line");
    if (line.empty()) break;
    if (++fields > kMaxHeaderFields) return Malformed("the request has more than 100 header fields");
    if (auto problem = ParseField(line, req, counts)) return problem;
  }
  if (!lines.rest().empty()) return Malformed("bytes follow the end of the request head");
  if (auto problem = ReadFraming(req, counts, framing)) return problem;
  if (qpos != std::string_view::npos) {
    auto q = ParseUrlEncoded(target.substr(qpos + 1));
    if (!q) return Malformed("the query string has a bad percent-escape");
    req.query = std::move(*q);
  }
  return std::nullopt;
}

}  // namespace authd::http
