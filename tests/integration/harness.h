// Runs the real authd binary on a free loopback port with a fresh SQLite file, and talks to it
// over HTTP. authctl runs against the same folder and environment.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "authd/base/json.h"
#include "util/temp_dir.h"

namespace authd::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  Json json() const;
  std::string header(const std::string& name) const;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class AuthdProcess {
 public:
  // `env` adds to (or overrides) AUTHD_DB and AUTHD_LISTEN, which point into the folder.
  explicit AuthdProcess(std::map<std::string, std::string> env = {});
  ~AuthdProcess();

  // Starts authd and waits (bounded) until it logs the port it listens on. Returns false if
  // it exited instead; then exit_code() and log() say why.
  bool Start();
  // Sends `signal` and waits (bounded) for the exit; returns the exit status.
  int Stop(int signal);
  bool running() const { return pid_ > 0; }
  int exit_code() const { return exit_code_; }
  uint16_t port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  std::string log() const;
  std::map<std::string, std::string>& env() { return env_; }

  HttpResult Request(const std::string& method, const std::string& path, const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {}) const;
  HttpResult Get(const std::string& path, const std::map<std::string, std::string>& headers = {}) const {
    return Request("GET", path, {}, headers);
  }
  HttpResult PostJson(const std::string& path, const Json& body, const std::string& bearer = {}) const;

  CommandResult Authctl(const std::vector<std::string>& args) const;
  // authctl user add NAME --role ROLE..., then authctl token issue NAME; returns the token.
  std::string TokenFor(const std::string& username, const std::vector<std::string>& roles);
  // authctl client add; returns the parsed JSON.
  Json Client(const std::string& name, const std::vector<std::string>& extra = {});

 private:
  TempDir dir_;
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  uint16_t port_ = 0;
};

// Runs a program with arguments and environment, in `cwd`; captures output. Bounded by
// `timeout_seconds`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  const std::string& cwd, int timeout_seconds = 60);

std::string BasicAuth(const std::string& id, const std::string& secret);

// The first column of the first row of `sql` run on the SQLite file at `path` ("" if none).
std::string SqlScalar(const std::string& path, const std::string& sql);

}  // namespace authd::testing
