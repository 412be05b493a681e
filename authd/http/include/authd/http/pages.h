// The hosted pages (/enroll, /login) and their assets, embedded in the binary at build time.
#pragma once

#include <vector>

#include "authd/http/router.h"

namespace authd::http {

struct EmbeddedPage {
  const char* name;  // file name under authd/http/pages
  const char* content_type;
  const char* body;
};

const std::vector<EmbeddedPage>& EmbeddedPages();

// GET /enroll, GET /login and GET /assets/{name}, each with a page Content-Security-Policy that
// allows only same-origin scripts, styles and fetches (no inline script).
void RegisterPageRoutes(Router& router);

}  // namespace authd::http
