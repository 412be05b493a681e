#include "authd/base/error_code.h"

namespace authd {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
#define AUTHD_X(e, s, h, t) \
  case ErrorCode::e:        \
    return s;
    AUTHD_ERROR_CODES(AUTHD_X)
#undef AUTHD_X
  }
  return "internal_error";
}

int ErrorCodeStatus(ErrorCode code) {
  switch (code) {
#define AUTHD_X(e, s, h, t) \
  case ErrorCode::e:        \
    return h;
    AUTHD_ERROR_CODES(AUTHD_X)
#undef AUTHD_X
  }
  return 500;
}

std::string_view ErrorCodeTitle(ErrorCode code) {
  switch (code) {
#define AUTHD_X(e, s, h, t) \
  case ErrorCode::e:        \
    return t;
    AUTHD_ERROR_CODES(AUTHD_X)
#undef AUTHD_X
  }
  return "Internal error";
}

}  // namespace authd
