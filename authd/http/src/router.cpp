#include "authd/http/router.h"

namespace authd::http {
namespace {

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
  Route r{std::move(method), pattern, Split(pattern), std::move(handler)};
  routes_.push_back(std::move(r));
}

bool Router::Match(const Route& route, const std::vector<std::string>& segments,
                   std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      auto decoded = PercentDecode(segments[i], false);
      if (!decoded || decoded->empty()) return false;
      found[want.substr(1, want.size() - 2)] = std::move(*decoded);
    } else if (want != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

Response Router::Dispatch(Request& req) const {
  if (req.path.empty() || req.path.front() != '/') return Response::Problem(ErrorCode::kNotFound, "no such resource");
  auto segments = Split(req.path);
  std::string allow;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!Match(r, segments, params)) continue;
    if (r.method == req.method || (req.method == "HEAD" && r.method == "GET")) {
      req.params = std::move(params);
      req.route = r.pattern;
      return r.handler(req);
    }
    if (!allow.empty()) allow += ", ";
    allow += r.method;
    req.route = r.pattern;
  }
  if (!allow.empty()) {
    Response resp = Response::Problem(ErrorCode::kMethodNotAllowed, "use " + allow);
    resp.headers.emplace_back("Allow", allow);
    return resp;
  }
  req.route = "unmatched";
  return Response::Problem(ErrorCode::kNotFound, "no such resource");
}

}  // namespace authd::http
