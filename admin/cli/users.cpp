// authctl user ..., enrollment-code, credential revoke

#include "cli.h"
#include "authd/domain/views.h"

namespace authctl {

void RegisterUserCommands(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "create, show, list, disable and enable users");
  user->require_subcommand(1);

  {
    auto* add = user->add_subcommand("add", "create a user; prints the user as JSON");
    auto username = std::make_shared<std::string>();
    auto display = std::make_shared<std::string>();
    auto roles = std::make_shared<std::vector<std::string>>();
    add->add_option("USERNAME", *username, "a-z 0-9 . _ @ -, up to 64 characters")->required();
    add->add_option("--display-name", *display, "name shown to people");
    add->add_option("--role", *roles, "admin, enroller or auditor (repeat for several)");
    add->callback([&ctx, username, display, roles] {
      auto u = Check(ctx.Core().CreateUser(ctx.Operator(), ctx.Audit(), {*username, *display, *roles}));
      PrintJson(authd::domain::UserJson(u));
    });
  }
  {
    auto* show = user->add_subcommand("show", "show a user and their credentials as JSON");
    auto username = std::make_shared<std::string>();
    show->add_option("USERNAME", *username)->required();
    show->callback([&ctx, username] {
      auto view = Check(ctx.Core().GetUser(*username));
      auto j = authd::domain::UserJson(view.user);
      j["credentials"] = authd::Json::array();
      for (const auto& c : view.credentials) j["credentials"].push_back(authd::domain::CredentialJson(c));
      PrintJson(j);
    });
  }
  {
    auto* list = user->add_subcommand("list", "list users, one JSON object per line");
    auto query = std::make_shared<std::string>();
    list->add_option("--query,-q", *query, "only usernames containing this text");
    list->callback([&ctx, query] {
      std::string cursor;
      do {
        auto page = Check(ctx.Core().ListUsers(*query, 200, cursor));
        for (const auto& u : page.users) PrintJson(authd::domain::UserJson(u));
        cursor = page.next_cursor;
      } while (!cursor.empty());
    });
  }
  for (const char* verb : {"disable", "enable"}) {
    std::string v = verb;
    auto* cmd = user->add_subcommand(v, v == "disable" ? "disable a user and revoke their live tokens"
                                                       : "enable a disabled user");
    auto username = std::make_shared<std::string>();
    cmd->add_option("USERNAME", *username)->required();
    cmd->callback([&ctx, username, v] {
      auto u = Check(ctx.Core().SetUserStatus(ctx.Audit(), *username,
                                              v == "disable" ? authd::domain::kStatusDisabled
                                                             : authd::domain::kStatusActive));
      std::printf("%s is now %s\n", u.username.c_str(), u.status.c_str());
    });
  }

  {
    auto* cmd = user->add_subcommand("unlock", "clear the OTP failure counters that lock a user (and their keys) out");
    auto username = std::make_shared<std::string>();
    cmd->add_option("USERNAME", *username)->required();
    cmd->callback([&ctx, username] {
      const int64_t n = Check(ctx.Runtime().otp->Unlock(ctx.Audit(), *username));
      std::printf("%s is unlocked (%lld failure counter%s cleared)\n", username->c_str(), static_cast<long long>(n),
                  n == 1 ? "" : "s");
    });
  }

  {
    auto* code = app.add_subcommand("enrollment-code", "issue a one-time enrolment code; prints the code alone");
    auto username = std::make_shared<std::string>();
    auto ttl = std::make_shared<int64_t>(0);
    code->add_option("USERNAME", *username)->required();
    code->add_option("--ttl", *ttl, "lifetime in seconds (default 86400)");
    code->callback([&ctx, username, ttl] {
      auto issued = Check(ctx.Core().IssueEnrollmentCode(ctx.Audit(), *username, *ttl));
      std::printf("%s\n", issued.code.c_str());
    });
  }

  {
    auto* cred = app.add_subcommand("credential", "manage users' credentials");
    cred->require_subcommand(1);
    RegisterImportU2fCommand(*cred, ctx);
    auto* revoke = cred->add_subcommand("revoke", "revoke a credential and every token issued through it");
    auto username = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    revoke->add_option("USERNAME", *username)->required();
    revoke->add_option("ID", *id, "credential id (see: authctl user show USERNAME)")->required();
    revoke->callback([&ctx, username, id] {
      Check(ctx.Core().RevokeCredential(ctx.Audit(), *username, *id));
      std::printf("revoked credential %s of %s\n", id->c_str(), username->c_str());
    });
  }
}

}  // namespace authctl
