// The chunked transfer coding (RFC 9112 §7.1), decoded strictly, one framing byte or one run of
// content bytes at a time, so that the caller never reads past the end of a body (what follows
// is the next pipelined request). Kept apart from the socket so that it can be fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace authd::http {

// Accepted: chunk sizes of 1 to 16 hex digits with nothing before them; an extension after ';'
// (visible characters, space and tab, at most 1 KiB; ignored); CRLF after every size line and
// every chunk's data; trailer fields (at most 100 lines of at most 8 KiB; ignored); a final CRLF.
// Anything else, a bare LF included, makes the body malformed: a proxy in front could frame it
// differently (RFC 9112 §11.2).
class ChunkedDecoder {
 public:
  // How many content bytes come next; 0 while framing bytes are expected (or at the end).
  uint64_t DataWanted() const { return state_ == State::kData ? remaining_ : 0; }
  // `n` content bytes (at most DataWanted()) have been read.
  void Data(uint64_t n);
  // One framing byte. False once the body is malformed; error() then says why.
  bool Framing(char c);
  bool done() const { return state_ == State::kDone; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart, kTrailer, kTrailerLf, kEndLf, kDone, kError };
  bool Fail(const char* why);
  // `c` must be `want`; then the decoder moves to `next`.
  bool Expect(char c, char want, State next, const char* why);
  // One byte of an extension or trailer line: CR ends it (moving to `at_cr`).
  bool LineByte(char c, State at_cr, size_t limit, const char* control, const char* too_long);

  State state_ = State::kSize;
  uint64_t size_ = 0;
  uint64_t remaining_ = 0;
  size_t digits_ = 0;
  size_t line_ = 0;         // bytes of the current extension or trailer line
  size_t trailers_ = 0;
  size_t framing_ = 0;      // framing bytes in all
  std::string error_;
};

}  // namespace authd::http
