#include "authd/http/message.h"

#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace authd::http {

std::string_view Request::Header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

std::string_view Request::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string_view() : std::string_view(it->second);
}

Result<std::optional<std::string>> Request::QueryValue(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : query) {
    if (k != name) continue;
    if (out) return Err(ErrorCode::kBadRequest, "query parameter " + std::string(name) + " is repeated");
    out = v;
  }
  return out;
}

std::string Request::MediaType() const {
  std::string_view ct = Header("content-type");
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  std::string out(ct);
  for (char& c : out) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

domain::AuditContext Request::Audit(std::string actor) const {
  return domain::AuditContext{actor.empty() ? "anonymous" : std::move(actor), remote_address, request_id};
}

Response Response::Json(int status, const authd::Json& body) {
  Response r;
  r.status = status;
  r.body = DumpJson(body);
  return r;
}

Response Response::RawJson(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Deferred() {
  Response r;
  r.deferred = true;
  return r;
}

Response Response::NoContent() {
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response Response::Text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::Problem(const Error& error) {
  Response r;
  r.status = ErrorCodeStatus(error.code);
  r.content_type = "application/problem+json";
  authd::Json body = {{"type", "urn:authd:problem:" + std::string(ErrorCodeName(error.code))},
                      {"title", ErrorCodeTitle(error.code)},
                      {"status", r.status},
                      {"code", ErrorCodeName(error.code)}};
  body["detail"] = error.detail.empty() ? std::string(ErrorCodeTitle(error.code)) : error.detail;
  r.body = DumpJson(body);
  if (error.code == ErrorCode::kInvalidToken) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  } else if (error.code == ErrorCode::kInvalidClient) {
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"authd\"");
  }
  if (r.status == 503 || r.status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

Response Response::Problem(ErrorCode code, std::string detail) { return Problem(Err(code, std::move(detail))); }

Result<authd::Json> JsonBody(const Request& req) {
  if (req.MediaType() != "application/json") {
    return Err(ErrorCode::kUnsupportedMediaType, "send the body as application/json");
  }
  AUTHD_ASSIGN_OR_RETURN(authd::Json j, ParseJsonStrict(req.body));
  if (!j.is_object()) return Err(ErrorCode::kBadRequest, "the body must be a JSON object");
  return j;
}

std::string HttpDate(int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t t = static_cast<time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

namespace {

constexpr const char* kApiCsp = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  const size_t from = out.size();
  out.append(value);
  for (size_t i = from; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out.append("\r\n");
}

}  // namespace

void AppendResponseHead(const Response& resp, const ResponseFrame& frame, std::string& out) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(resp.status)).push_back(' ');
  out.append(Poco::Net::HTTPResponse::getReasonForStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(resp.status)));
  out.append("\r\n");
  auto own = [&](std::string_view name) {
    for (const auto& [k, v] : resp.headers) {
      if (SameName(k, name)) return true;
    }
    return false;
  };
  auto fixed = [&](std::string_view name, std::string_view value) {
    if (!own(name)) AppendHeader(out, name, value);
  };
  fixed("Date", frame.date);
  fixed("Cache-Control", "no-store");
  fixed("Pragma", "no-cache");
  fixed("X-Content-Type-Options", "nosniff");
  fixed("X-Frame-Options", "DENY");
  fixed("Referrer-Policy", "no-referrer");
  fixed("Content-Security-Policy", kApiCsp);
  fixed("X-Request-Id", frame.request_id);
  if (frame.tls) fixed("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
  for (const auto& [k, v] : resp.headers) {
    // Framing is the server's alone.
    if (SameName(k, "Content-Length") || SameName(k, "Transfer-Encoding") || SameName(k, "Connection")) continue;
    AppendHeader(out, k, v);
  }
  if (!resp.content_type.empty() && !own("Content-Type")) AppendHeader(out, "Content-Type", resp.content_type);
  AppendHeader(out, "Connection", frame.keep_alive ? "Keep-Alive" : "close");
  // RFC 9110 §8.6: no Content-Length on a 204.
  if (resp.status != 204 && !(resp.status >= 100 && resp.status < 200)) {
    AppendHeader(out, "Content-Length", std::to_string(resp.body.size()));
  }
  out.append("\r\n");
}

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // Runs of plain characters (all of a token, usually) are copied whole, found with memchr
  // (find_first_of with a set looks the set up once per byte).
  auto next_special = [&](size_t from) {
    const char* begin = in.data() + from;
    const void* pct = std::memchr(begin, '%', in.size() - from);
    size_t end = pct ? static_cast<size_t>(static_cast<const char*>(pct) - in.data()) : in.size();
    if (plus_is_space) {
      const void* plus = std::memchr(begin, '+', end - from);
      if (plus) end = static_cast<size_t>(static_cast<const char*>(plus) - in.data());
    }
    return end;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t next = next_special(i);
    out.append(in.data() + i, next - i);
    i = next;
    if (i == in.size()) break;
    if (in[i] == '+') {
      out.push_back(' ');
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    int hi = hex(in[i + 1]);
    int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ParseUrlEncoded(std::string_view in) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < in.size()) {
    size_t end = in.find('&', start);
    if (end == std::string_view::npos) end = in.size();
    std::string_view pair = in.substr(start, end - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      auto k = PercentDecode(pair.substr(0, eq), true);
      auto v = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!k || !v) return std::nullopt;
      out.emplace_back(std::move(*k), std::move(*v));
    }
    start = end + 1;
  }
  return out;
}

Result<std::map<std::string, std::string>> FormBody(const Request& req) {
  if (req.MediaType() != "application/x-www-form-urlencoded") {
    return Err(ErrorCode::kUnsupportedMediaType, "send the body as application/x-www-form-urlencoded");
  }
  auto pairs = ParseUrlEncoded(req.body);
  if (!pairs) return Err(ErrorCode::kBadRequest, "the form body has a bad percent-escape");
  std::map<std::string, std::string> out;
  for (auto& [k, v] : *pairs) {
    if (!out.emplace(k, std::move(v)).second) {
      return Err(ErrorCode::kBadRequest, "form parameter " + k.substr(0, 32) + " is repeated");
    }
  }
  return out;
}

}  // namespace authd::http
