#include "util/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string_view>

namespace authd::testing {

int ConnectLoopback(uint16_t port, int rcvbuf, int timeout_seconds) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  if (timeout_seconds > 0) {
    timeval tv{timeout_seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  return fd;
}

std::vector<std::string> ReadAnswers(int fd, size_t count, bool* ended) {
  std::vector<std::string> bodies;
  std::string buf;
  std::vector<char> chunk(1 << 16);
  if (ended) *ended = false;
  while (bodies.size() < count) {
    // The head is looked for in the first 64 KiB only, so that a large body is read in linear time.
    const size_t head_end = std::string_view(buf).substr(0, 65536).find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > head_end) break;
      const size_t length = std::stoul(buf.substr(cl + 16, 24));
      if (buf.size() >= head_end + 4 + length) {
        bodies.push_back(buf.substr(head_end + 4, length));
        buf.erase(0, head_end + 4 + length);
        continue;
      }
    }
    const ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
    if (n <= 0) {
      if (ended) *ended = n == 0;
      break;
    }
    buf.append(chunk.data(), static_cast<size_t>(n));
  }
  return bodies;
}

}  // namespace authd::testing
