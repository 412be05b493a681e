// Shared plumbing for authctl's command groups: the lazily opened runtime, output helpers and
// the failure convention (exit 1 with one line on stderr; 2 for usage errors).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

#include "authd/runtime/runtime.h"

namespace authctl {

// Thrown by command actions to end with exit status 1 and one line on stderr.
struct Failure {
  std::string message;
};

class Context {
 public:
  std::string config_file;

  // Opens the store with the same configuration rules as authd (file, then AUTHD_* env).
  authd::runtime::Runtime& Runtime();
  authd::domain::Core& Core() { return *Runtime().core; }
  // Who is acting, for the audit log: "authctl:<login name>", source "local".
  authd::domain::AuditContext Audit() const;
  authd::domain::Principal Operator();

 private:
  std::unique_ptr<authd::runtime::Runtime> runtime_;
};

// Unwraps a Result or throws Failure with its detail.
template <typename T>
T Check(authd::Result<T> r) {
  if (!r) throw Failure{r.error().detail.empty() ? std::string(authd::ErrorCodeTitle(r.code())) : r.error().detail};
  return std::move(r.value());
}
inline void Check(const authd::Status& s) {
  if (!s) throw Failure{s.error().detail.empty() ? std::string(authd::ErrorCodeTitle(s.code())) : s.error().detail};
}

inline void PrintJson(const authd::Json& j) { std::printf("%s\n", authd::DumpJson(j).c_str()); }

void RegisterUserCommands(CLI::App& app, Context& ctx);
void RegisterTokenCommands(CLI::App& app, Context& ctx);
void RegisterClientCommands(CLI::App& app, Context& ctx);
void RegisterAuditCommands(CLI::App& app, Context& ctx);
void RegisterBackupCommands(CLI::App& app, Context& ctx);
void RegisterImportU2fCommand(CLI::App& credential, Context& ctx);
void RegisterStationCommands(CLI::App& app, Context& ctx);

}  // namespace authctl
