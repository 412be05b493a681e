#include "authd/http/router.h"

#include <gtest/gtest.h>

namespace authd::http {
namespace {

Router MakeRouter() {
  Router r;
  r.Add("GET", "/v1/admin/users/{username}", [](Request& req) {
    return Response::Json(200, {{"user", std::string(req.Param("username"))}});
  });
  r.Add("PATCH", "/v1/admin/users/{username}", [](Request&) { return Response::Json(200, {}); });
  r.Add("DELETE", "/v1/admin/users/{username}/credentials/{id}", [](Request& req) {
    return Response::Json(200, {{"id", std::string(req.Param("id"))}});
  });
  return r;
}

Response Call(const Router& r, std::string method, std::string path) {
  Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  return r.Dispatch(req);
}

TEST(Router, MatchesAndDecodesParameters) {
  Router r = MakeRouter();
  Response ok = Call(r, "GET", "/v1/admin/users/al%69ce");
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("\"alice\""), std::string::npos);
  Response del = Call(r, "DELETE", "/v1/admin/users/alice/credentials/a%2Fb");
  EXPECT_NE(del.body.find("a/b"), std::string::npos);
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Router r = MakeRouter();
  EXPECT_EQ(Call(r, "GET", "/v1/admin/users").status, 404);
  EXPECT_EQ(Call(r, "GET", "/v1/admin/users/alice/extra").status, 404);
  EXPECT_EQ(Call(r, "GET", "/v1/admin/users/").status, 404);  // empty parameter
  EXPECT_EQ(Call(r, "GET", "/v1/admin/users/%zz").status, 404);
  EXPECT_EQ(Call(r, "GET", "").status, 404);
  Response wrong = Call(r, "POST", "/v1/admin/users/alice");
  EXPECT_EQ(wrong.status, 405);
  ASSERT_FALSE(wrong.headers.empty());
  EXPECT_EQ(wrong.headers.back().second, "GET, PATCH");
}

}  // namespace
}  // namespace authd::http
