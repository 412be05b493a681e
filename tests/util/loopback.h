// Raw HTTP/1.1 over loopback for tests that need what a client library hides: pipelining, a
// small receive window, reading late.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace authd::testing {

// A TCP connection to 127.0.0.1:`port`, or -1 if it is refused. `rcvbuf` > 0 sets the receive
// buffer before connecting; `timeout_seconds` > 0 bounds each receive.
int ConnectLoopback(uint16_t port, int rcvbuf = 0, int timeout_seconds = 20);

// Reads answers framed by Content-Length off `fd` until `count` have come or the connection
// ends (`*ended` then says whether it ended cleanly) or a receive times out. Returns the bodies.
std::vector<std::string> ReadAnswers(int fd, size_t count, bool* ended = nullptr);

}  // namespace authd::testing
