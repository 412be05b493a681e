// authctl credential import-u2f FILE: keys of pam_u2f users (pamu2fcfg's mapping lines).
//
// Each line is `username:credential[:credential...]`; a credential is either the current form
// `keyHandle,publicKey,coseType,options` (base64 key handle; base64 public key: ES256 as x||y,
// EdDSA 32 bytes, RS256 n||e) or the old form `keyHandle,publicKey` (websafe base64 key handle,
// hex uncompressed P-256 point).

#include <unistd.h>

#include <fstream>

#include "authd/base/encoding.h"
#include "authd/webauthn/cose_key.h"
#include "cli.h"

namespace authctl {
namespace {

struct ParsedKey {
  authd::Bytes raw_id;
  authd::Bytes cose_key;
};

authd::Result<ParsedKey> ParseCredential(std::string_view text) {
  auto bad = [](std::string why) { return authd::Err(authd::ErrorCode::kInvalidArgument, std::move(why)); };
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    parts.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  if (parts.size() != 2 && parts.size() != 4) return bad("expected keyHandle,publicKey[,coseType,options]");
  if (parts[0] == "*") return bad("resident credentials (key handle \"*\") cannot be imported");
  ParsedKey out;
  int64_t alg = authd::webauthn::cose::kES256;
  authd::Bytes pub;
  if (parts.size() == 2) {  // old form
    auto kh = authd::Base64UrlDecode(parts[0]);
    auto pk = authd::HexDecode(parts[1]);
    if (!kh || kh->empty()) return bad("the key handle is not websafe base64");
    if (!pk) return bad("the public key is not hex");
    out.raw_id = std::move(*kh);
    pub = std::move(*pk);
  } else {
    auto kh = authd::Base64Decode(parts[0]);
    auto pk = authd::Base64Decode(parts[1]);
    if (!kh || kh->empty()) return bad("the key handle is not base64");
    if (!pk) return bad("the public key is not base64");
    if (parts[2] == "es256") alg = authd::webauthn::cose::kES256;
    else if (parts[2] == "eddsa") alg = authd::webauthn::cose::kEdDSA;
    else if (parts[2] == "rs256") alg = authd::webauthn::cose::kRS256;
    else return bad("unknown key type \"" + parts[2].substr(0, 16) + "\"");
    out.raw_id = std::move(*kh);
    pub = std::move(*pk);
  }
  AUTHD_ASSIGN_OR_RETURN(out.cose_key, authd::webauthn::CoseKeyFromRaw(alg, pub));
  return out;
}

std::string DefaultAppId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "pam://localhost";
  return std::string("pam://") + host;
}

}  // namespace

void RegisterImportU2fCommand(CLI::App& credential, Context& ctx) {
  auto* cmd = credential.add_subcommand(
      "import-u2f", "import pam_u2f mappings (pamu2fcfg output) so U2F users keep their keys");
  auto file = std::make_shared<std::string>();
  auto appid = std::make_shared<std::string>();
  auto create = std::make_shared<bool>(false);
  cmd->add_option("FILE", *file, "the pam_u2f authfile (e.g. /etc/u2f_mappings)")->required();
  cmd->add_option("--appid", *appid, "the origin/appid the keys were registered with (default pam://<this host>)");
  cmd->add_flag("--create-users", *create, "create users that do not exist yet");
  cmd->callback([&ctx, file, appid, create] {
    std::ifstream in(*file);
    if (!in) throw Failure{"cannot read " + *file};
    std::string id = appid->empty() ? DefaultAppId() : *appid;
    auto& rt = ctx.Runtime();
    int imported = 0, skipped = 0, line_no = 0;
    std::string line;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line[0] == '#') continue;
      size_t colon = line.find(':');
      if (colon == std::string::npos) {
        std::fprintf(stderr, "line %d: skipped: no username\n", line_no);
        ++skipped;
        continue;
      }
      std::string user = line.substr(0, colon);
      if (*create && !rt.core->GetUser(user)) {
        auto made = rt.core->CreateUser(ctx.Operator(), ctx.Audit(), {user, "", {}});
        if (!made) {
          std::fprintf(stderr, "line %d: skipped: %s\n", line_no, made.error().detail.c_str());
          ++skipped;
          continue;
        }
      }
      std::string_view rest = std::string_view(line).substr(colon + 1);
      while (!rest.empty()) {
        size_t next = rest.find(':');
        std::string_view cred = rest.substr(0, next);
        rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
        auto parsed = ParseCredential(cred);
        authd::Status done = parsed ? authd::Status() : authd::Status(parsed.error());
        if (parsed) {
          auto r = rt.webauthn->ImportCredential(user, parsed->raw_id, parsed->cose_key, id, "pam_u2f", ctx.Audit());
          if (!r) done = r.error();
        }
        if (done) {
          ++imported;
        } else {
          std::fprintf(stderr, "line %d (%s): skipped: %s\n", line_no, user.c_str(), done.error().detail.c_str());
          ++skipped;
        }
      }
    }
    std::printf("imported %d key(s) with appid %s; skipped %d\n", imported, id.c_str(), skipped);
    if (imported == 0 && skipped > 0) throw Failure{"nothing was imported"};
  });
}

}  // namespace authctl
