// QR codes as SVG (libqrencode), for the otpauth:// URI of a TOTP enrolment.
#pragma once

#include <string>
#include <string_view>

#include "authd/base/result.h"

namespace authd::http {

// One <svg> with a white background, a four-module quiet zone and one <path> for the dark
// modules; error correction level M. kInternal if libqrencode cannot encode the text.
Result<std::string> QrSvg(std::string_view text);

}  // namespace authd::http
