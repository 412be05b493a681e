// authctl: administration and enrolment-station commands, on the same store as authd.

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "authd/base/log.h"
#include "cli.h"

namespace authctl {

authd::runtime::Runtime& Context::Runtime() {
  if (!runtime_) {
    auto config = authd::runtime::LoadConfig(config_file, authd::runtime::ProcessEnvironment());
    if (!config) throw Failure{config.error().detail};
    auto rt = authd::runtime::OpenRuntime(*config);
    if (!rt) throw Failure{rt.error().detail};
    runtime_ = std::move(rt.value());
  }
  return *runtime_;
}

authd::domain::AuditContext Context::Audit() const {
  std::string who;
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
    who = sudo;
  } else if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) {
    who = pw->pw_name;
  } else {
    who = "uid" + std::to_string(geteuid());
  }
  return authd::domain::AuditContext{"authctl:" + who.substr(0, 64), "local", authd::RandomId(12)};
}

authd::domain::Principal Context::Operator() {
  authd::domain::Principal p;
  p.operator_cli = true;
  p.user.username = Audit().actor;
  return p;
}

}  // namespace authctl

int main(int argc, char** argv) {
  // Library logs (migrations, storage errors) go to stderr only when they matter.
  authd::SetLogLevel(authd::LogLevel::kWarn);
  authctl::Context ctx;
  CLI::App app{"authctl: administer authd and enrol security keys.\n"
               "Works on the same store as authd: same --config file and AUTHD_* environment."};
  app.require_subcommand(1);
  app.option_defaults()->always_capture_default();
  app.add_option("--config", ctx.config_file, "configuration file (key = value lines)");
  app.set_version_flag("--version", "authctl 0.1.0");
  authctl::RegisterUserCommands(app, ctx);
  authctl::RegisterTokenCommands(app, ctx);
  authctl::RegisterClientCommands(app, ctx);
  authctl::RegisterAuditCommands(app, ctx);
  authctl::RegisterBackupCommands(app, ctx);
  authctl::RegisterStationCommands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "authctl: %s; see authctl --help\n", e.what());
    return 2;
  } catch (const authctl::Failure& f) {
    std::fprintf(stderr, "authctl: %s\n", f.message.c_str());
    return 1;
  }
  return 0;
}
