#include "authd/http/head.h"

#include <Poco/Net/HTTPRequest.h>

namespace authd::http {

std::optional<Response> ReadHead(const Poco::Net::HTTPRequest& in, Request& req) {
  req.method = in.getMethod();
  const std::string& uri = in.getURI();
  const size_t qpos = uri.find('?');
  req.path = uri.substr(0, qpos);
  for (const auto& [name, value] : in) {
    std::string key = name;
    for (char& c : key) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    auto [it, inserted] = req.headers.emplace(std::move(key), value);
    if (!inserted) it->second.append(", ").append(value);
  }
  const std::string& version = in.getVersion();
  if (version != Poco::Net::HTTPMessage::HTTP_1_1 && version != Poco::Net::HTTPMessage::HTTP_1_0) {
    return Response::Problem(ErrorCode::kBadRequest, "only HTTP/1.0 and HTTP/1.1 are spoken here");
  }
  if (qpos != std::string::npos) {
    auto q = ParseUrlEncoded(std::string_view(uri).substr(qpos + 1));
    if (!q) return Response::Problem(ErrorCode::kBadRequest, "the query string has a bad percent-escape");
    req.query = std::move(*q);
  }
  return std::nullopt;
}

}  // namespace authd::http
