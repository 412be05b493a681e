// A request head as it arrives on a connection: Poco's parser (with the limits authd relies on),
// then authd's reading of it into a Request.
#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequest.h>

#include <cstddef>
#include <cstdint>
#include <sstream>

#include "authd/http/head.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream wire(std::string(reinterpret_cast<const char*>(data), size));
  Poco::Net::HTTPRequest in;
  try {
    in.read(wire);
  } catch (const Poco::Exception&) {
    return 0;  // refused by the parser: answered with a 400 and closed
  }
  authd::http::Request req;
  auto problem = authd::http::ReadHead(in, req);
  if (problem && problem->status != 400) __builtin_trap();
  if (in.size() > 100) __builtin_trap();  // Poco's field limit
  for (const auto& [name, value] : req.headers) {
    for (char c : name) {
      if (c >= 'A' && c <= 'Z') __builtin_trap();
    }
  }
  return 0;
}
