#include "authd/http/chunked.h"

#include <gtest/gtest.h>

#include <string>

namespace authd::http {
namespace {

struct Decoded {
  bool ok = false;
  std::string content;
  std::string error;
  size_t consumed = 0;  // bytes of the input the decoder took
};

// Feeds `wire` the way the server does: content in runs of at most what the chunk holds, framing
// a byte at a time; stops at the end of the body.
Decoded Decode(const std::string& wire) {
  ChunkedDecoder d;
  Decoded out;
  size_t at = 0;
  while (!d.done() && at < wire.size()) {
    if (const uint64_t want = d.DataWanted(); want > 0) {
      const size_t n = std::min<size_t>(static_cast<size_t>(want), wire.size() - at);
      out.content.append(wire, at, n);
      d.Data(n);
      at += n;
      continue;
    }
    if (!d.Framing(wire[at++])) {
      out.error = d.error();
      out.consumed = at;
      return out;
    }
  }
  out.ok = d.done();
  out.consumed = at;
  if (!out.ok && out.error.empty()) out.error = "ended early";
  return out;
}

TEST(ChunkedDecoder, DecodesChunksExtensionsAndTrailersAndStopsAtTheEnd) {
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  const std::string body = "5\r\ntoken\r\n1A;name=\"v a\"\r\n" + std::string(26, 'x') + "\r\n0\r\nX-T: 1\r\n\r\n";
  Decoded d = Decode(body + next);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.content, "token" + std::string(26, 'x'));
  EXPECT_EQ(d.consumed, body.size());
  Decoded empty = Decode("0\r\n\r\n" + next);
  ASSERT_TRUE(empty.ok);
  EXPECT_EQ(empty.content, "");
  EXPECT_EQ(empty.consumed, 5u);  // the pipelined request after it is left alone
}

TEST(ChunkedDecoder, RefusesWhatAProxyCouldFrameDifferently) {
  for (const std::string wire : {
           "5 xyz\r\ntoken\r\n0\r\n\r\n",     // garbage after the size
           " 5\r\ntoken\r\n0\r\n\r\n",        // space before it
           "5 ;a\r\ntoken\r\n0\r\n\r\n",      // whitespace before an extension
           "-5\r\ntoken\r\n0\r\n\r\n",        // a sign
           "0x5\r\ntoken\r\n0\r\n\r\n",       // a prefix
           "\r\n5\r\ntoken\r\n0\r\n\r\n",     // no size at all
           "5\ntoken\n0\n\n",                 // bare line feeds
           "5\r\ntokenXX\r\n0\r\n\r\n",       // data longer than its size
           "5\r\ntoken0\r\n\r\n",             // no CRLF after the data
           "5;a\nb\r\ntoken\r\n0\r\n\r\n",    // a line feed inside an extension
           "11111111111111111\r\n",           // 17 digits
           "0\r\nX-T: 1\n\r\n",               // a trailer ending in a bare LF
           "0\r\n X-T: 1\r\n\r\n",            // a folded trailer
           "0\r\n\n",                         // the end without CR
       }) {
    Decoded d = Decode(wire);
    EXPECT_FALSE(d.ok) << wire;
    EXPECT_NE(d.error, "") << wire;
  }
}

TEST(ChunkedDecoder, BoundsItsFraming) {
  EXPECT_FALSE(Decode("1;" + std::string(1025, 'e') + "\r\na\r\n0\r\n\r\n").ok);
  EXPECT_TRUE(Decode("1;" + std::string(1024, 'e') + "\r\na\r\n0\r\n\r\n").ok);
  std::string trailers = "0\r\n";
  for (int i = 0; i < 101; ++i) trailers += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_FALSE(Decode(trailers + "\r\n").ok);
  // Many small chunks with long extensions: the framing as a whole is bounded too.
  std::string many;
  for (int i = 0; i < 300; ++i) many += "1;" + std::string(1000, 'e') + "\r\na\r\n";
  Decoded d = Decode(many + "0\r\n\r\n");
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("256 KiB"), std::string::npos) << d.error;
  // A size past what fits is refused before any content is expected.
  EXPECT_FALSE(Decode("ffffffffffffffff0\r\n").ok);
}

}  // namespace
}  // namespace authd::http
