// authctl client ...

#include "cli.h"

namespace authctl {

void RegisterClientCommands(CLI::App& app, Context& ctx) {
  auto* client = app.add_subcommand("client", "manage API clients (downstream apps)");
  client->require_subcommand(1);
  auto* add = client->add_subcommand("add", "create an API client; prints its secrets once, as JSON");
  auto name = std::make_shared<std::string>();
  auto scopes = std::make_shared<std::vector<std::string>>();
  auto ips = std::make_shared<std::vector<std::string>>();
  add->add_option("NAME", *name, "a name for people")->required();
  add->add_option("--scope", *scopes, "introspect, revoke, verify, ykval (repeat; default all)");
  add->add_option("--allow-ip", *ips, "CIDR network the client may call from (repeat; default any)");
  add->callback([&ctx, name, scopes, ips] {
    auto c = Check(ctx.Core().CreateClient(ctx.Audit(), {*name, *scopes, *ips}));
    PrintJson({{"client_id", c.client.client_id},
               {"client_secret", c.client_secret},
               {"ykval_id", c.client.ykval_id},
               {"ykval_key", c.ykval_key},
               {"name", c.client.name},
               {"scopes", c.client.scopes},
               {"allowed_ips", c.client.allowed_ips}});
  });
}

}  // namespace authctl
