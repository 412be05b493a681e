#include "authd/http/message.h"

#include <gtest/gtest.h>

namespace authd::http {
namespace {

Request WithBody(std::string content_type, std::string body) {
  Request r;
  r.headers["content-type"] = std::move(content_type);
  r.body = std::move(body);
  return r;
}

TEST(Problem, CarriesCodeStatusAndNoSecrets) {
  Response r = Response::Problem(ErrorCode::kChallengeExpired, "the ceremony expired");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.content_type, "application/problem+json");
  auto j = ParseJsonStrict(r.body);
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["code"], "challenge_expired");
  EXPECT_EQ((*j)["status"], 422);
  EXPECT_EQ((*j)["detail"], "the ceremony expired");
  EXPECT_EQ((*j)["type"], "urn:authd:problem:challenge_expired");
  Response busy = Response::Problem(ErrorCode::kOverloaded);
  EXPECT_EQ(busy.status, 503);
  ASSERT_FALSE(busy.headers.empty());
  EXPECT_EQ(busy.headers[0].first, "Retry-After");
}

TEST(JsonBody, RequiresJsonMediaTypeAndAnObject) {
  EXPECT_TRUE(JsonBody(WithBody("application/json; charset=utf-8", "{}")));
  EXPECT_TRUE(JsonBody(WithBody("Application/JSON", "{}")));
  EXPECT_EQ(JsonBody(WithBody("text/plain", "{}")).code(), ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(JsonBody(WithBody("", "{}")).code(), ErrorCode::kUnsupportedMediaType);
  EXPECT_EQ(JsonBody(WithBody("application/json", "[]")).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(JsonBody(WithBody("application/json", "{")).code(), ErrorCode::kBadRequest);
}

TEST(FormBody, DecodesAndRefusesPollution) {
  auto f = FormBody(WithBody("application/x-www-form-urlencoded", "token=a%2Bb+c&token_type_hint=x"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->at("token"), "a+b c");
  EXPECT_EQ(FormBody(WithBody("application/x-www-form-urlencoded", "token=a&token=b")).code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(FormBody(WithBody("application/x-www-form-urlencoded", "token=%zz")).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(FormBody(WithBody("application/x-www-form-urlencoded", "token=%4")).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(FormBody(WithBody("application/json", "token=a")).code(), ErrorCode::kUnsupportedMediaType);
}

TEST(PercentDecode, EveryTruncatedEscapeIsRefused) {
  EXPECT_EQ(*PercentDecode("a%20b", false), "a b");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%", false));
  EXPECT_FALSE(PercentDecode("%2", false));
  EXPECT_FALSE(PercentDecode("ab%", false));
}

TEST(Request, RepeatedQueryParameterIsRefused) {
  Request r;
  r.query = {{"q", "a"}, {"limit", "5"}, {"q", "b"}};
  EXPECT_FALSE(r.QueryValue("q"));
  EXPECT_EQ(**r.QueryValue("limit"), "5");
  EXPECT_FALSE(r.QueryValue("cursor")->has_value());
}

}  // namespace
}  // namespace authd::http
