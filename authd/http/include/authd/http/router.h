// Maps (method, path) to a handler. Patterns are literal segments and {name} parameters.
// Built once at start-up, then read-only: thread-safe for Dispatch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "authd/http/message.h"

namespace authd::http {

using Handler = std::function<Response(Request&)>;

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler);
  // Fills req.params and req.route. 404 problem for an unknown path, 405 (with Allow) for a
  // known path with another method.
  Response Dispatch(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool Match(const Route& route, const std::vector<std::string>& segments,
                    std::map<std::string, std::string>& params);
  std::vector<Route> routes_;
};

}  // namespace authd::http
