// Transport-neutral request and response. The Poco adapter fills a Request (already bounded in
// size) and writes a Response; handlers see only these, so they are testable in process.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authd/base/json.h"
#include "authd/base/result.h"
#include "authd/domain/audit.h"

namespace authd::http {

struct Response;

// A request's answer given later, from another thread (the store's writer, right after the
// commit that holds the request's write), so that the request's own thread need not wait for
// the commit. The server sets one on a request when its connection can take such an answer.
class Deferral {
 public:
  virtual ~Deferral() = default;
  // Names the request being handled now; its answer is given with this ticket.
  virtual uint64_t Ticket() const = 0;
  // The answer of request `ticket`: called once, from any thread, while its handler runs or after
  // it returned Response::Deferred(). An answer for a request that is no longer waiting for one
  // is dropped.
  virtual void Reply(uint64_t ticket, Response resp) = 0;
};

struct Request {
  std::string method;
  std::string path;  // without the query string, percent-escapes intact
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::map<std::string, std::string, std::less<>> headers;  // names lower-cased; repeated joined by ", "
  std::string body;
  std::string remote_address;
  std::string request_id;
  bool tls = false;
  std::map<std::string, std::string> params;  // decoded path parameters, filled by the router
  std::string route;                          // the matched pattern, for metrics
  Deferral* deferral = nullptr;               // set when the answer may come from another thread

  std::string_view Header(std::string_view name) const;
  std::string_view Param(const std::string& name) const;
  // The single value of a query parameter; kBadRequest if it is repeated (parameter pollution).
  Result<std::optional<std::string>> QueryValue(std::string_view name) const;
  // The content type's media type, lower-cased, without parameters.
  std::string MediaType() const;

  domain::AuditContext Audit(std::string actor = {}) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;
  bool deferred = false;  // the answer comes through the request's Deferral

  static Response Json(int status, const authd::Json& body);
  // A JSON body already written (JsonObjectWriter), with the same content type as Json.
  static Response RawJson(int status, std::string body);
  static Response NoContent();
  // Returned by a handler that has handed its answer to the request's Deferral.
  static Response Deferred();
  static Response Text(int status, std::string body, std::string content_type);
  // RFC 9457 problem details with our stable `code`.
  static Response Problem(const Error& error);
  static Response Problem(ErrorCode code, std::string detail = {});
};

// Parses a JSON request body strictly (application/json only): kUnsupportedMediaType,
// kBadRequest. An object is required.
Result<authd::Json> JsonBody(const Request& req);
// Parses application/x-www-form-urlencoded: kUnsupportedMediaType, kBadRequest (also for a
// repeated parameter).
Result<std::map<std::string, std::string>> FormBody(const Request& req);

// An HTTP-date (RFC 9110 §5.6.7, IMF-fixdate): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(int64_t unix_seconds);

// What goes around every response: the security headers, the request id, Date and the framing.
// The status line always says HTTP/1.1 (RFC 9112 §2.3: the highest version we conform to).
struct ResponseFrame {
  std::string_view request_id;
  std::string_view date;  // HttpDate of now
  bool tls = false;
  bool keep_alive = true;
  bool body = true;  // false for HEAD: Content-Length is still the body's
};

// The status line and header block of `resp`, ending in the blank line. The handler's own headers
// replace the defaults of the same name; a CR or LF in a value becomes a space (no header
// injection). Appends to `out`.
void AppendResponseHead(const Response& resp, const ResponseFrame& frame, std::string& out);

// Percent-decoding ("+" is a space when `plus_is_space`). nullopt for a bad escape.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);
// Splits "a=b&c=d" into decoded pairs; nullopt for a bad escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseUrlEncoded(std::string_view in);

}  // namespace authd::http
