#include "authd/http/message.h"

#include <gtest/gtest.h>

#include <cctype>
#include <optional>
#include <string>

#include "authd/http/api.h"
#include "util/random_text.h"

namespace authd::http {
namespace {

Request WithBody(std::string content_type, std::string body) {
  Request r;
  r.headers["content-type"] = std::move(content_type);
  r.body = std::move(body);
  return r;
}

// API.md "The token response", written directly: the bytes DumpJson wrote for the same object.
TEST(TokenResponse, IsTheContractsObjectAsDumpJsonWritesIt) {
  domain::IssuedToken t;
  t.access_token = "h.p.s";
  t.record.user_id = "u_\"1";
  t.record.username = "al\\ice";
  t.record.credential_id = "cred\n1";
  t.record.amr = {"hwk", "pin"};
  const Json expected = {{"access_token", "h.p.s"},
                         {"token_type", "Bearer"},
                         {"expires_in", 300},
                         {"user", {{"id", "u_\"1"}, {"username", "al\\ice"}}},
                         {"credential_id", "cred\n1"},
                         {"amr", {"hwk", "pin"}}};
  EXPECT_EQ(TokenResponseBody(t, 300), DumpJson(expected));
  t.record.amr.clear();
  auto parsed = ParseJsonStrict(TokenResponseBody(t, 60));
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["amr"], Json::array());
  EXPECT_EQ((*parsed)["expires_in"], 60);
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

TEST(PercentDecode, RunsEscapesAndPlusesDecodeInPlace) {
  EXPECT_EQ(*PercentDecode("", true), "");
  EXPECT_EQ(*PercentDecode("eyJhbGciOiJFUzI1NiJ9.e30.sig", true), "eyJhbGciOiJFUzI1NiJ9.e30.sig");
  EXPECT_EQ(*PercentDecode("a+b++c", true), "a b  c");
  EXPECT_EQ(*PercentDecode("%41%42c%2b+%2B", true), "ABc+ +");
  EXPECT_EQ(*PercentDecode("%00x", false), std::string("\0x", 2));
  EXPECT_FALSE(PercentDecode("+%", false));
  EXPECT_FALSE(PercentDecode("a+%G1", true));
}

// Against a plain byte-at-a-time decoder, over strings made of the characters that matter.
TEST(PercentDecode, AgreesWithAPlainDecoderOnRandomInput) {
  auto plain = [](std::string_view in, bool plus_is_space) -> std::optional<std::string> {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (plus_is_space && in[i] == '+') {
        out.push_back(' ');
      } else if (in[i] == '%') {
        if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
          return std::nullopt;
        }
        out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(in[i]);
      }
    }
    return out;
  };
  testing::RandomText random(20261203);
  for (int n = 0; n < 20000; ++n) {
    const std::string t = random.Next("a%+2Bg.", 10);
    for (bool plus : {false, true}) ASSERT_EQ(PercentDecode(t, plus), plain(t, plus)) << t << " " << plus;
  }
}

TEST(Request, RepeatedQueryParameterIsRefused) {
  Request r;
  r.query = {{"q", "a"}, {"limit", "5"}, {"q", "b"}};
  EXPECT_FALSE(r.QueryValue("q"));
  EXPECT_EQ(**r.QueryValue("limit"), "5");
  EXPECT_FALSE(r.QueryValue("cursor")->has_value());
}

TEST(HttpDate, FormatsImfFixdate) {
  EXPECT_EQ(HttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110 §5.6.7's example
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

std::string Head(const Response& r, const ResponseFrame& f) {
  std::string out;
  AppendResponseHead(r, f, out);
  return out;
}

TEST(ResponseHead, CarriesStatusSecurityHeadersAndFraming) {
  Response r = Response::Json(201, {{"ok", true}});
  ResponseFrame f;
  f.request_id = "req-1";
  f.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  const std::string head = Head(r, f);
  EXPECT_EQ(head.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << head;
  for (const char* line :
       {"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "Cache-Control: no-store\r\n", "X-Content-Type-Options: nosniff\r\n",
        "X-Frame-Options: DENY\r\n", "Referrer-Policy: no-referrer\r\n", "X-Request-Id: req-1\r\n",
        "Connection: Keep-Alive\r\n", "Content-Type: application/json; charset=utf-8\r\n"}) {
    EXPECT_NE(head.find(line), std::string::npos) << line << " missing from\n" << head;
  }
  EXPECT_NE(head.find("Content-Length: " + std::to_string(r.body.size()) + "\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Strict-Transport-Security"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);  // one blank line, at the end

  f.tls = true;
  f.keep_alive = false;
  const std::string tls = Head(r, f);
  EXPECT_NE(tls.find("Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n"), std::string::npos);
  EXPECT_NE(tls.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(tls.find("Keep-Alive"), std::string::npos);
}

TEST(ResponseHead, HandlerHeadersReplaceDefaultsButNeverTheFraming) {
  Response r = Response::Text(200, "hello", "text/plain");
  r.headers = {{"cache-control", "public, max-age=60"},
               {"Content-Length", "999"},
               {"Transfer-Encoding", "chunked"},
               {"Connection", "upgrade"},
               {"X-Note", "a\r\nSet-Cookie: injected=1"}};
  ResponseFrame f;
  const std::string head = Head(r, f);
  EXPECT_NE(head.find("cache-control: public, max-age=60\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("no-store"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("999"), std::string::npos) << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(head.find("upgrade"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nSet-Cookie"), std::string::npos) << head;  // no header injected
  EXPECT_NE(head.find("X-Note: a  Set-Cookie: injected=1\r\n"), std::string::npos) << head;
}

TEST(ResponseHead, NoContentHasNoLengthAndHeadKeepsTheBodysLength) {
  ResponseFrame f;
  const std::string none = Head(Response::NoContent(), f);
  EXPECT_EQ(none.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << none;
  EXPECT_EQ(none.find("Content-Length"), std::string::npos) << none;
  f.body = false;  // HEAD
  const std::string head = Head(Response::Text(200, "twelve bytes", "text/plain"), f);
  EXPECT_NE(head.find("Content-Length: 12\r\n"), std::string::npos) << head;
}

}  // namespace
}  // namespace authd::http
