#include "authd/http/head.h"

#include <Poco/Net/HTTPRequest.h>
#include <gtest/gtest.h>

#include <sstream>

namespace authd::http {
namespace {

Poco::Net::HTTPRequest Parse(const std::string& wire) {
  std::istringstream in(wire);
  Poco::Net::HTTPRequest req;
  req.read(in);
  return req;
}

TEST(ReadHead, LowerCasesNamesJoinsRepeatsAndDecodesTheQuery) {
  auto in = Parse("GET /v1/admin/users?q=al%20ice&limit=5 HTTP/1.1\r\nHost: x\r\nX-Thing: a\r\nx-thing: b\r\n\r\n");
  Request req;
  EXPECT_FALSE(ReadHead(in, req));
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/v1/admin/users");
  ASSERT_EQ(req.query.size(), 2u);
  EXPECT_EQ(req.query[0], (std::pair<std::string, std::string>{"q", "al ice"}));
  EXPECT_EQ(req.Header("host"), "x");
  EXPECT_EQ(req.Header("x-thing"), "a, b");
  EXPECT_EQ(req.Header("X-Thing"), "");  // lookups use the lower-cased name
}

TEST(ReadHead, RefusesOtherVersionsAndBadEscapes) {
  Request a;
  auto version = ReadHead(Parse("GET / HTTP/2.0\r\n\r\n"), a);
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 400);
  Request b;
  auto escape = ReadHead(Parse("GET /x?q=%zz HTTP/1.0\r\n\r\n"), b);
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->status, 400);
  EXPECT_EQ(b.path, "/x");
  EXPECT_TRUE(b.query.empty());
}

}  // namespace
}  // namespace authd::http
