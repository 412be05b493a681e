// The hosted enrolment and login pages: plain HTML and JavaScript, clients of the public API.

#include <cstring>

#include "authd/http/pages.h"

namespace authd::http {
namespace {

constexpr const char* kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const EmbeddedPage* Find(std::string_view name) {
  for (const auto& p : EmbeddedPages()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

Response Serve(const EmbeddedPage& page) {
  Response r = Response::Text(200, page.body, page.content_type);
  r.headers.emplace_back("Content-Security-Policy", kPageCsp);
  return r;
}

}  // namespace

void RegisterPageRoutes(Router& router) {
  for (const char* page : {"enroll", "enroll-app", "login"}) {
    std::string file = std::string(page) + ".html";
    router.Add("GET", "/" + std::string(page), [file](Request&) {
      const EmbeddedPage* p = Find(file);
      return p ? Serve(*p) : Response::Problem(ErrorCode::kNotFound, "no such page");
    });
  }
  router.Add("GET", "/assets/{name}", [](Request& req) {
    std::string_view name = req.Param("name");
    const EmbeddedPage* p = Find(name);
    // Only scripts and styles are assets; the HTML pages have their own routes.
    if (!p || std::strncmp(p->content_type, "text/html", 9) == 0) {
      return Response::Problem(ErrorCode::kNotFound, "no such asset");
    }
    return Serve(*p);
  });
}

}  // namespace authd::http
