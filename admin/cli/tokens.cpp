// authctl token ..., key rotate

#include "cli.h"

namespace authctl {

void RegisterTokenCommands(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand("token", "issue and revoke access tokens");
  token->require_subcommand(1);
  {
    auto* issue = token->add_subcommand(
        "issue", "mint an access token for a user (operator bootstrap); prints the token alone");
    auto username = std::make_shared<std::string>();
    issue->add_option("USERNAME", *username)->required();
    issue->callback([&ctx, username] {
      auto t = Check(ctx.Core().IssueOperatorToken(ctx.Audit(), *username));
      std::printf("%s\n", t.access_token.c_str());
    });
  }
  {
    auto* revoke_user = token->add_subcommand("revoke-user", "revoke every live token of a user");
    auto username = std::make_shared<std::string>();
    revoke_user->add_option("USERNAME", *username)->required();
    revoke_user->callback([&ctx, username] {
      int64_t n = Check(ctx.Core().RevokeUserTokens(ctx.Audit(), *username));
      std::printf("revoked %lld live token(s) of %s\n", static_cast<long long>(n), username->c_str());
    });
  }
  {
    auto* revoke = token->add_subcommand("revoke", "revoke one token by its jti");
    auto jti = std::make_shared<std::string>();
    revoke->add_option("JTI", *jti)->required();
    revoke->callback([&ctx, jti] {
      bool found = Check(ctx.Core().RevokeTokenByJti(ctx.Audit(), *jti));
      std::printf(found ? "revoked token %s\n" : "no live token has jti %s\n", jti->c_str());
    });
  }

  auto* key = app.add_subcommand("key", "manage token-signing keys");
  key->require_subcommand(1);
  auto* rotate = key->add_subcommand("rotate", "start signing with a new key; the old one stays in the JWKS");
  rotate->callback([&ctx] {
    auto& core = ctx.Core();
    std::string kid;
    Check(core.store().Write([&](authd::domain::WriteTx& tx) -> authd::Status {
      AUTHD_ASSIGN_OR_RETURN(kid, core.tokens().Rotate(tx));
      authd::domain::AuditEntry e;
      e.action = "key.rotate";
      e.target = "key:" + kid;
      e.outcome = "success";
      return core.audit().Append(tx, ctx.Audit(), e);
    }));
    std::printf("signing with new key %s; running servers switch within 30 seconds\n", kid.c_str());
  });
}

}  // namespace authctl
