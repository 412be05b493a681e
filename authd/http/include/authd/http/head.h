// From a request head parsed by Poco to our Request: the part of the adapter that reads wire
// data, kept apart so that it can be fuzzed and tested without a socket.
#pragma once

#include <optional>

#include "authd/http/message.h"

namespace Poco::Net {
class HTTPRequest;
}

namespace authd::http {

// Fills method, path, query and headers (names lower-cased, repeats joined by ", ") from `in`.
// Returns a problem to answer (and close) for a version other than HTTP/1.0 or 1.1 or a query
// string with a bad percent-escape; what could be read is filled either way.
std::optional<Response> ReadHead(const Poco::Net::HTTPRequest& in, Request& req);

}  // namespace authd::http
