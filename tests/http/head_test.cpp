#include "authd/http/head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/random_text.h"

namespace authd::http {
namespace {

struct Parsed {
  Request req;
  BodyFraming framing;
  std::optional<Response> problem;
};

Parsed Parse(const std::string& head) {
  Parsed p;
  p.problem = ParseHead(head, p.req, p.framing);
  return p;
}

// The problem's detail, or "" when the head was accepted.
std::string Refusal(const std::string& head) {
  Parsed p = Parse(head);
  if (!p.problem) return "";
  EXPECT_EQ(p.problem->status, 400) << head;
  return p.problem->body;
}

TEST(ParseHead, LowerCasesNamesJoinsRepeatsAndDecodesTheQuery) {
  Parsed p = Parse("GET /v1/admin/users?q=al%20ice&limit=5 HTTP/1.1\r\nHost: x\r\nX-Thing: a\r\nx-thing:b \r\n\r\n");
  ASSERT_FALSE(p.problem) << p.problem->body;
  EXPECT_EQ(p.req.method, "GET");
  EXPECT_EQ(p.req.path, "/v1/admin/users");
  ASSERT_EQ(p.req.query.size(), 2u);
  EXPECT_EQ(p.req.query[0], (std::pair<std::string, std::string>{"q", "al ice"}));
  EXPECT_EQ(p.req.Header("host"), "x");
  EXPECT_EQ(p.req.Header("x-thing"), "a, b");
  EXPECT_EQ(p.req.Header("X-Thing"), "");  // lookups use the lower-cased name
  EXPECT_TRUE(p.framing.http11);
  EXPECT_TRUE(p.framing.keep_alive);
  EXPECT_EQ(p.framing.kind, BodyFraming::Kind::kNone);
}

TEST(ParseHead, ReadsFramingKeepAliveAndExpect) {
  Parsed len = Parse("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\nConnection: close\r\n\r\n");
  ASSERT_FALSE(len.problem);
  EXPECT_EQ(len.framing.kind, BodyFraming::Kind::kLength);
  EXPECT_EQ(len.framing.length, 42);
  EXPECT_FALSE(len.framing.keep_alive);
  Parsed chunked = Parse("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n");
  ASSERT_FALSE(chunked.problem);
  EXPECT_EQ(chunked.framing.kind, BodyFraming::Kind::kChunked);
  EXPECT_TRUE(chunked.framing.expect_continue);
  Parsed old = Parse("GET /a HTTP/1.0\r\n\r\n");
  ASSERT_FALSE(old.problem);
  EXPECT_FALSE(old.framing.http11);
  EXPECT_FALSE(old.framing.keep_alive);
  Parsed old_kept = Parse("GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_TRUE(old_kept.framing.keep_alive);
  EXPECT_FALSE(old_kept.framing.expect_continue);  // HTTP/1.0 has no 100 Continue
  Parsed both = Parse("GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n");
  EXPECT_FALSE(both.framing.keep_alive);
}

TEST(ParseHead, AcceptsBareLineFeedsAndLeadingEmptyLines) {
  Parsed p = Parse("\r\n\nGET /healthz HTTP/1.1\nHost: x\n\n");
  ASSERT_FALSE(p.problem) << p.problem->body;
  EXPECT_EQ(p.req.path, "/healthz");
}

TEST(ParseHead, RefusesWhatTwoPartiesCouldReadDifferently) {
  const std::string post = "POST /v1/tokens/introspect HTTP/1.1\r\nHost: x\r\n";
  for (const std::string& head : std::vector<std::string>{
      // RFC 9112 §6.1 and §6.3: a coding other than chunked, or chunked next to a length.
      post + "Transfer-Encoding: gzip, chunked\r\n\r\n",
      post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      post + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
      "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
      // Content-Length: one plain decimal number.
      post + "Content-Length: 4\r\nContent-Length: 40\r\n\r\n",
      post + "Content-Length: 4\r\nContent-Length: 4\r\n\r\n",
      post + "Content-Length: 4, 4\r\n\r\n",
      post + "Content-Length: +4\r\n\r\n",
      post + "Content-Length: -1\r\n\r\n",
      post + "Content-Length: 0x10\r\n\r\n",
      post + "Content-Length:\r\n\r\n",
      post + "Content-Length: 9999999999999999999\r\n\r\n",
      // RFC 9112 §5.1: no whitespace between a field name and its colon; §5.2: no folded lines.
      "GET /a HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n",
      // A CR that does not end a line.
      "GET /a HTTP/1.1\r\nHost: x\rX-Smuggled: 1\r\n\r\n",
      "GET /a\r HTTP/1.1\r\nHost: x\r\n\r\n",
      // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
      "GET /a HTTP/1.1\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
       }) {
    EXPECT_NE(Refusal(head), "") << head;
  }
}

TEST(ParseHead, RefusesMalformedRequestLinesAndFields) {
  EXPECT_NE(Refusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n").find("only HTTP/1.0 and HTTP/1.1"), std::string::npos);
  EXPECT_NE(Refusal("GET / HTTP/9.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET /\r\n\r\n"), "");
  EXPECT_NE(Refusal("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET /a HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET /a HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n"), "");
  EXPECT_NE(Refusal(std::string("GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 38)), "");
  EXPECT_NE(Refusal("GET /a HTTP/1.1\r\nHost: x\r\n"), "");  // no empty line
  EXPECT_NE(Refusal("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), "");  // bytes after it
  Parsed escape = Parse("GET /x?q=%zz HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(escape.problem);
  EXPECT_EQ(escape.req.path, "/x");
  EXPECT_TRUE(escape.req.query.empty());
  // obs-text in a value is kept as it came.
  Parsed latin = Parse("GET /a HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n");
  ASSERT_FALSE(latin.problem);
  EXPECT_EQ(latin.req.Header("x-name"), "caf\xe9");
}

TEST(ParseHead, EnforcesItsLimits) {
  const std::string start = "GET /a HTTP/1.1\r\nHost: x\r\n";
  std::string many = start;
  for (int i = 0; i < 99; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Refusal(many + "\r\n"), "");  // 100 fields with Host
  EXPECT_NE(Refusal(many + "X-Last: v\r\n\r\n"), "");
  EXPECT_EQ(Refusal(start + "X-A: " + std::string(kMaxHeaderValue, 'v') + "\r\n\r\n"), "");
  EXPECT_NE(Refusal(start + "X-A: " + std::string(kMaxHeaderValue + 1, 'v') + "\r\n\r\n"), "");
  EXPECT_EQ(Refusal(start + std::string(kMaxHeaderName, 'n') + ": v\r\n\r\n"), "");
  EXPECT_NE(Refusal(start + std::string(kMaxHeaderName + 1, 'n') + ": v\r\n\r\n"), "");
  EXPECT_EQ(Refusal("GET /" + std::string(kMaxRequestTarget - 1, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal("GET /" + std::string(kMaxRequestTarget, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_NE(Refusal(std::string(kMaxMethod + 1, 'G') + " / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  std::string huge = start;
  while (huge.size() <= kMaxHeadBytes) huge += "X-B: " + std::string(1000, 'b') + "\r\n";
  EXPECT_NE(Refusal(huge + "\r\n"), "");
}

TEST(EndsHead, SeesTheEmptyLineThatEndsAHead) {
  EXPECT_FALSE(EndsHead("GET / HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(EndsHead("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(EndsHead("GET / HTTP/1.1\nHost: x\n\n"));
  EXPECT_TRUE(EndsHead("GET / HTTP/1.1\r\nHost: x\n\r\n"));
  EXPECT_FALSE(EndsHead("GET / HTTP/1.1\r\nHost: x\r\r\n"));
  EXPECT_FALSE(EndsHead("\n"));
}

TEST(HeadReader, TakesOneHeadAndNothingPastIt) {
  HeadReader reader;
  const std::string wire = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
  size_t taken = 0;
  HeadReader::Step step = HeadReader::Step::kMore;
  while (step == HeadReader::Step::kMore && taken < wire.size()) step = reader.Push(wire[taken++]);
  EXPECT_EQ(step, HeadReader::Step::kDone);
  EXPECT_EQ(reader.head(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(wire.substr(taken), "body");
  reader.Reset();
  EXPECT_FALSE(reader.started());
  // Empty lines alone count toward the limit too.
  step = HeadReader::Step::kMore;
  for (size_t i = 0; i <= kMaxHeadBytes && step == HeadReader::Step::kMore; ++i) step = reader.Push('\n');
  EXPECT_EQ(step, HeadReader::Step::kTooLarge);
  EXPECT_FALSE(reader.started());
}

// Taking bytes in runs is taking them one by one: the same step, after the same byte, with the
// same head, for heads, empty lines, limits and whatever is cut anywhere.
TEST(HeadReader, RunsOfBytesGiveWhatBytesOneByOneGive) {
  const std::string big(kMaxHeadBytes, 'a');
  std::vector<std::string> wires = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody",
      "\r\n\n\r\nPOST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
      "GET / HTTP/1.0\n\nGET / HTTP/1.0\n\n",
      "GET / HTTP/1.1\r\nHost: x\r\n\rX\r\n\r\n",
      "GET /" + big + " HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nX: " + big.substr(0, kMaxHeadBytes - 20) + "\r\n\r\n",
      std::string(kMaxHeadBytes + 1, '\n'),
      std::string(kMaxHeadBytes - 2, '\n') + "GET",
  };
  testing::RandomText random(7);
  for (int i = 0; i < 3000; ++i) wires.push_back(random.Next("ab\r\n: ", 40));
  for (const std::string& wire : wires) {
    HeadReader one;
    size_t one_taken = 0;
    HeadReader::Step one_step = HeadReader::Step::kMore;
    while (one_step == HeadReader::Step::kMore && one_taken < wire.size()) one_step = one.Push(wire[one_taken++]);
    for (size_t cut : {size_t{1}, size_t{3}, size_t{17}, wire.size() + 1}) {
      HeadReader runs;
      size_t taken = 0;
      HeadReader::Step step = HeadReader::Step::kMore;
      while (step == HeadReader::Step::kMore && taken < wire.size()) {
        size_t took = 0;
        step = runs.Push(std::string_view(wire).substr(taken, cut), took);
        ASSERT_LE(took, std::min(cut, wire.size() - taken));
        if (step == HeadReader::Step::kMore) {
          ASSERT_EQ(took, std::min(cut, wire.size() - taken));
        }
        taken += took;
      }
      ASSERT_EQ(step, one_step) << wire.substr(0, 40) << " cut " << cut;
      ASSERT_EQ(taken, one_taken) << wire.substr(0, 40) << " cut " << cut;
      ASSERT_EQ(runs.head(), one.head()) << wire.substr(0, 40) << " cut " << cut;
      ASSERT_EQ(runs.started(), one.started());
    }
  }
}

}  // namespace
}  // namespace authd::http
