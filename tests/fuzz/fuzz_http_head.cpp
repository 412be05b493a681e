// Request heads as they arrive on a connection: the input is cut into heads the way the server
// reads them (empty lines before a head skipped, each head up to its empty line), and each head
// is parsed. Whatever the bytes, a refusal is a 400, an accepted head keeps its limits and its
// framing is consistent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authd/http/head.h"

namespace {

// The server takes heads in runs (HeadReader::Push of a string_view): that must cut the wire
// exactly where taking it a byte at a time does, for runs of any length.
void RunsCutLikeBytes(std::string_view wire) {
  using authd::http::HeadReader;
  const size_t run = wire.empty() ? 1 : static_cast<unsigned char>(wire[0]) % 23 + 1;
  HeadReader bytes, runs;
  size_t at = 0, run_at = 0;
  while (at < wire.size()) {
    HeadReader::Step step = HeadReader::Step::kMore;
    const size_t start = at;
    while (step == HeadReader::Step::kMore && at < wire.size()) step = bytes.Push(wire[at++]);
    HeadReader::Step run_step = HeadReader::Step::kMore;
    if (run_at != start) __builtin_trap();
    while (run_step == HeadReader::Step::kMore && run_at < wire.size()) {
      size_t took = 0;
      run_step = runs.Push(wire.substr(run_at, run), took);
      run_at += took;
    }
    if (run_step != step || run_at != at || runs.head() != bytes.head()) __builtin_trap();
    if (step != HeadReader::Step::kDone) return;
    bytes.Reset();
    runs.Reset();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace authd::http;
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  RunsCutLikeBytes(wire);
  HeadReader reader;
  for (char c : wire) {
    const HeadReader::Step step = reader.Push(c);
    if (step == HeadReader::Step::kTooLarge) return 0;  // answered with a 400 before parsing
    if (step == HeadReader::Step::kMore) continue;
    Request req;
    BodyFraming framing;
    auto problem = ParseHead(reader.head(), req, framing);
    reader.Reset();
    if (problem) {
      if (problem->status != 400) __builtin_trap();
      return 0;  // the connection closes after a refusal
    }
    if (req.method.empty() || req.method.size() > kMaxMethod || req.path.size() > kMaxRequestTarget) __builtin_trap();
    if (req.headers.size() > kMaxHeaderFields) __builtin_trap();
    for (const auto& [name, value] : req.headers) {
      if (name.empty() || name.size() > kMaxHeaderName) __builtin_trap();
      for (char n : name) {
        if (n >= 'A' && n <= 'Z') __builtin_trap();
      }
      for (char v : value) {
        if (v == '\r' || v == '\n' || v == '\0') __builtin_trap();
      }
    }
    const bool te = req.headers.count("transfer-encoding") > 0;
    const bool cl = req.headers.count("content-length") > 0;
    if (te && cl) __builtin_trap();
    if ((framing.kind == BodyFraming::Kind::kChunked) != te) __builtin_trap();
    if ((framing.kind == BodyFraming::Kind::kLength) != cl) __builtin_trap();
    if (framing.length < 0) __builtin_trap();
    if (framing.http11 && req.headers.count("host") == 0) __builtin_trap();
    if (!framing.http11 && (te || framing.expect_continue)) __builtin_trap();
  }
  return 0;
}
