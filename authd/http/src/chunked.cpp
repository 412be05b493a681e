#include "authd/http/chunked.h"

#include "authd/http/head.h"

namespace authd::http {
namespace {

constexpr size_t kMaxSizeDigits = 16;
constexpr size_t kMaxExtension = 1024;
constexpr size_t kMaxTrailerLine = 8192;
constexpr size_t kMaxTrailers = 100;
constexpr size_t kMaxFraming = 256 * 1024;  // sizes, extensions, line ends and trailers together

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool ChunkedDecoder::Fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return false;
}

bool ChunkedDecoder::Expect(char c, char want, State next, const char* why) {
  if (c != want) return Fail(why);
  state_ = next;
  return true;
}

bool ChunkedDecoder::LineByte(char c, State at_cr, size_t limit, const char* control, const char* too_long) {
  if (c == '\r') {
    state_ = at_cr;
    return true;
  }
  if (!IsFieldValueChar(c)) return Fail(control);
  if (++line_ > limit) return Fail(too_long);
  return true;
}

void ChunkedDecoder::Data(uint64_t n) {
  if (state_ != State::kData || n > remaining_) {
    Fail("more content than the chunk size");
    return;
  }
  remaining_ -= n;
  if (remaining_ == 0) state_ = State::kDataCr;
}

bool ChunkedDecoder::Framing(char c) {
  if (state_ == State::kError) return false;
  if (++framing_ > kMaxFraming) return Fail("the chunk framing is longer than 256 KiB");
  switch (state_) {
    case State::kSize: {
      const int v = HexValue(c);
      if (v >= 0) {
        if (++digits_ > kMaxSizeDigits) return Fail("a chunk size has more than 16 digits");
        size_ = size_ * 16 + static_cast<uint64_t>(v);
        return true;
      }
      if (digits_ == 0) return Fail("a chunk size must start with a hex digit");
      if (c == ';') {
        state_ = State::kExtension;
        line_ = 0;
        return true;
      }
      if (c == '\r') {
        state_ = State::kSizeLf;
        return true;
      }
      return Fail("a chunk size is followed by something other than ';' or CRLF");
    }
    case State::kExtension:
      return LineByte(c, State::kSizeLf, kMaxExtension, "a chunk extension holds a control character",
                      "a chunk extension is longer than 1 KiB");
    case State::kSizeLf:
      if (c != '\n') return Fail("a chunk size line must end in CRLF");
      if (size_ == 0) {
        state_ = State::kTrailerStart;
      } else {
        state_ = State::kData;
        remaining_ = size_;
      }
      size_ = 0;
      digits_ = 0;
      return true;
    case State::kData:
      return Fail("content was expected, not framing");
    case State::kDataCr:
      return Expect(c, '\r', State::kDataLf, "a chunk's data must be followed by CRLF");
    case State::kDataLf:
      return Expect(c, '\n', State::kSize, "a chunk's data must be followed by CRLF");
    case State::kTrailerStart:
      if (c == '\r') {
        state_ = State::kEndLf;
        return true;
      }
      if (++trailers_ > kMaxTrailers) return Fail("more than 100 trailer fields");
      if (!IsFieldValueChar(c) || c == ' ' || c == '\t') return Fail("a trailer field line is malformed");
      state_ = State::kTrailer;
      line_ = 1;
      return true;
    case State::kTrailer:
      return LineByte(c, State::kTrailerLf, kMaxTrailerLine, "a trailer field holds a control character",
                      "a trailer field is longer than 8 KiB");
    case State::kTrailerLf:
      return Expect(c, '\n', State::kTrailerStart, "a trailer field must end in CRLF");
    case State::kEndLf:
      return Expect(c, '\n', State::kDone, "the chunked body must end in CRLF");
    case State::kDone:
      return Fail("bytes after the end of the chunked body");
    case State::kError:
      return false;
  }
  return false;
}

}  // namespace authd::http
