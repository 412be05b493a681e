#include "integration/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "authd/base/encoding.h"

extern char** environ;

namespace authd::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string::npos || kv.rfind("AUTHD_", 0) == 0) continue;
    all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& cwd, int out_fd, int err_fd) {
  std::vector<std::string> envs = MergedEnv(env);
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (chdir(cwd.c_str()) != 0) _exit(127);
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> ev;
  for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  execve(args[0], args.data(), ev.data());
  _exit(127);
}

}  // namespace

Json HttpResult::json() const {
  // Answers are parsed as a client would; a request's limits do not apply (an enrolment's QR
  // code SVG can pass the 16 KiB a request's string may have, with the pattern of its secret).
  JsonLimits answer;
  answer.max_bytes = 4 << 20;
  answer.max_string = 1 << 20;
  auto j = ParseJsonStrict(body, answer);
  return j ? j.value() : Json();
}

std::string HttpResult::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string BasicAuth(const std::string& id, const std::string& secret) {
  return "Basic " + Base64Encode(AsBytes(id + ":" + secret));
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                  const std::string& cwd, int timeout_seconds) {
  TempDir io;
  int out = open(io.File("out").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  int err = open(io.File("err").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  pid_t pid = Spawn(argv, env, cwd, out, err);
  close(out);
  close(err);
  CommandResult r;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (true) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.err = "timed out\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(io.File("out"));
  r.err += ReadFile(io.File("err"));
  return r;
}

AuthdProcess::AuthdProcess(std::map<std::string, std::string> env) : env_(std::move(env)) {
  env_.emplace("AUTHD_DB", dir_.File("authd.db"));
  env_.emplace("AUTHD_LISTEN", "127.0.0.1:0");
}

AuthdProcess::~AuthdProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

std::string AuthdProcess::log() const { return ReadFile(dir_.File("authd.log")); }

bool AuthdProcess::Start() {
  int out = open(dir_.File("authd.out").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
  int err = open(dir_.File("authd.log").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
  size_t log_start = ReadFile(dir_.File("authd.log")).size();
  pid_ = Spawn({AUTHD_BIN}, env_, dir_.path(), out, err);
  close(out);
  close(err);
  port_ = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return false;
    }
    std::string text = log().substr(log_start);
    size_t at = text.find("\"event\":\"listening\"");
    if (at != std::string::npos) {
      size_t line_start = text.rfind('\n', at);
      line_start = line_start == std::string::npos ? 0 : line_start + 1;
      size_t line_end = text.find('\n', at);
      auto j = ParseJsonStrict(text.substr(line_start, line_end - line_start));
      if (j && j->contains("port")) {
        port_ = (*j)["port"].get<uint16_t>();
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Stop(SIGKILL);
  return false;
}

int AuthdProcess::Stop(int signal) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, signal);
  int status = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > until) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return exit_code_;
}

HttpResult AuthdProcess::Request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::map<std::string, std::string>& headers) const {
  HttpResult r;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port_);
    session.setTimeout(Poco::Timespan(15, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PATCH") req.setContentLength64(static_cast<Poco::Int64>(body.size()));
    std::ostream& os = session.sendRequest(req);
    os << body;
    Poco::Net::HTTPResponse resp;
    std::istream& is = session.receiveResponse(resp);
    r.status = static_cast<int>(resp.getStatus());
    for (const auto& [k, v] : resp) {
      std::string key = k;
      for (char& c : key) c = static_cast<char>(std::tolower(c));
      r.headers[key] = v;
    }
    std::ostringstream ss;
    Poco::StreamCopier::copyStream(is, ss);
    r.body = ss.str();
  } catch (const std::exception& e) {
    r.status = -1;
    r.body = e.what();
  }
  return r;
}

HttpResult AuthdProcess::PostJson(const std::string& path, const Json& body, const std::string& bearer) const {
  std::map<std::string, std::string> h = {{"Content-Type", "application/json"}};
  if (!bearer.empty()) h["Authorization"] = "Bearer " + bearer;
  return Request("POST", path, DumpJson(body), h);
}

CommandResult AuthdProcess::Authctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {AUTHCTL_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, env_, dir_.path());
}

std::string AuthdProcess::TokenFor(const std::string& username, const std::vector<std::string>& roles) {
  std::vector<std::string> add = {"user", "add", username};
  for (const auto& r : roles) {
    add.push_back("--role");
    add.push_back(r);
  }
  CommandResult a = Authctl(add);
  if (a.exit_code != 0) return "";
  CommandResult t = Authctl({"token", "issue", username});
  std::string token = t.out;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

Json AuthdProcess::Client(const std::string& name, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"client", "add", name};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = Authctl(args);
  auto j = ParseJsonStrict(r.out);
  return j ? j.value() : Json();
}

std::string SqlScalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

}  // namespace authd::testing
