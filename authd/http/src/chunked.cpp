#include "authd/http/chunked.h"

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

// Visible ASCII, space, tab and obs-text: what an extension or a trailer line may hold.
bool IsLineChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

}  // namespace

bool ChunkedDecoder::Fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return false;
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
      if (c == '\r') {
        state_ = State::kSizeLf;
        return true;
      }
      if (!IsLineChar(c)) return Fail("a chunk extension holds a control character");
      if (++line_ > kMaxExtension) return Fail("a chunk extension is longer than 1 KiB");
      return true;
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
      if (c != '\r') return Fail("a chunk's data must be followed by CRLF");
      state_ = State::kDataLf;
      return true;
    case State::kDataLf:
      if (c != '\n') return Fail("a chunk's data must be followed by CRLF");
      state_ = State::kSize;
      return true;
    case State::kTrailerStart:
      if (c == '\r') {
        state_ = State::kEndLf;
        return true;
      }
      if (++trailers_ > kMaxTrailers) return Fail("more than 100 trailer fields");
      if (!IsLineChar(c) || c == ' ' || c == '\t') return Fail("a trailer field line is malformed");
      state_ = State::kTrailer;
      line_ = 1;
      return true;
    case State::kTrailer:
      if (c == '\r') {
        state_ = State::kTrailerLf;
        return true;
      }
      if (!IsLineChar(c)) return Fail("a trailer field holds a control character");
      if (++line_ > kMaxTrailerLine) return Fail("a trailer field is longer than 8 KiB");
      return true;
    case State::kTrailerLf:
      if (c != '\n') return Fail("a trailer field must end in CRLF");
      state_ = State::kTrailerStart;
      return true;
    case State::kEndLf:
      if (c != '\n') return Fail("the chunked body must end in CRLF");
      state_ = State::kDone;
      return true;
    case State::kDone:
      return Fail("bytes after the end of the chunked body");
    case State::kError:
      return false;
  }
  return false;
}

}  // namespace authd::http
