#include "authd/domain/webauthn_service.h"

#include <algorithm>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/domain/ceremony_handle.h"
#include "authd/domain/policy.h"

namespace authd::domain {
namespace {

constexpr std::string_view kRegistration = "registration";
constexpr std::string_view kAuthentication = "authentication";

int UvRank(std::string_view uv) { return uv == "required" ? 2 : uv == "preferred" ? 1 : 0; }

bool OneOf(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

std::string Stronger(std::string_view a, std::string_view b) { return std::string(UvRank(a) >= UvRank(b) ? a : b); }

// A PublicKeyCredentialDescriptorJSON, as JSON text.
std::string CredentialDescriptor(std::string_view id, const std::vector<std::string>& transports) {
  JsonObjectWriter d;
  d.String("id", id);
  if (!transports.empty()) d.Strings("transports", transports);
  return d.String("type", "public-key").Finish();
}

}  // namespace

WebAuthnService::WebAuthnService(Core& core, const Keyring& keyring, WebAuthnOptions options)
    : core_(core), keyring_(keyring), options_(std::move(options)) {}

void WebAuthnService::Refuse(const AuditContext& ctx, const std::string& action, const std::string& target,
                             const Error& error, const Ceremony* consume) {
  (void)core_.store().Write([&](WriteTx& tx) -> Status {
    // A refused response still uses up its ceremony: the challenge is never accepted twice.
    if (consume) AUTHD_RETURN_IF_ERROR(tx.UseCeremony(consume->id, consume->expires_at));
    return core_.audit().Append(tx, ctx, MakeEntry(action, target, "failure", std::string(ErrorCodeName(error.code)), true));
  });
}

Error WebAuthnService::RefuseUnknownCeremony(const AuditContext& ctx, const std::string& action) {
  Error e = Err(ErrorCode::kChallengeUnknown, "unknown or already used ceremony; start again");
  Refuse(ctx, action, "ceremony", e, nullptr);
  return e;
}

Result<Ceremony> WebAuthnService::OpenLiveCeremony(std::string_view handle, std::string_view kind,
                                                   const AuditContext& ctx, const std::string& action) {
  // Whether it was used is read by the caller with its records, and settled (of two concurrent
  // uses, one) by the transaction that acts on it.
  auto c = OpenCeremony(keyring_, handle);
  if (!c || c->kind != kind) return RefuseUnknownCeremony(ctx, action);
  if (core_.clock().NowSeconds() >= c->expires_at) {
    Error e = Err(ErrorCode::kChallengeExpired, "the ceremony expired; start again");
    Refuse(ctx, action, "ceremony", e, nullptr);
    return e;
  }
  return std::move(*c);
}

// --- registration --------------------------------------------------------------------------

Result<CeremonyStarted> WebAuthnService::StartRegistration(const std::optional<Principal>& who,
                                                           const RegistrationRequest& req, const AuditContext& ctx) {
  if (!OneOf(req.resident_key, {"discouraged", "preferred", "required"}) ||
      !OneOf(req.user_verification, {"discouraged", "preferred", "required"}) ||
      !OneOf(req.attestation, {"none", "indirect", "direct", "enterprise"}) ||
      !OneOf(req.authenticator_attachment, {"", "platform", "cross-platform"})) {
    return Err(ErrorCode::kInvalidArgument,
               "resident_key, user_verification, attestation or authenticator_attachment has an unknown value");
  }
  if (req.display_name.size() > 64) return Err(ErrorCode::kInvalidArgument, "display_name is too long");
  const int64_t now = core_.clock().NowSeconds();
  auto username = NormalizeUsername(req.username);
  std::optional<User> user;
  std::optional<EnrollmentCode> code;
  std::vector<WebAuthnCredential> existing;
  Bytes code_hash;
  Status room = Ok();
  if (username) {
    if (!req.enrollment_code.empty()) code_hash = HashEnrollmentCode(req.enrollment_code);
    AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
      AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserByName(*username));
      if (user) {
        AUTHD_ASSIGN_OR_RETURN(existing, tx.ListWebAuthnCredentials(user->id));
        room = core_.CheckRoomForCredential(tx, user->id);
      }
      if (!code_hash.empty()) {
        AUTHD_ASSIGN_OR_RETURN(code, tx.FindLiveEnrollmentCode(code_hash, now));
      }
      return Ok();
    }));
  }

  // Who may register a key for this user: the user, an enroller or admin, or the holder of an
  // enrolment code issued for this user.
  std::string actor;
  if (who) {
    bool self = user && who->user.id == user->id;
    if (!self) AUTHD_RETURN_IF_ERROR(core_.Authorize(*who, Permission::kRegisterCredential, ctx, "user:" + req.username.substr(0, 64)));
    if (!user) return Err(ErrorCode::kNotFound, "no such user");
    if (user->status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user is disabled");
    actor = "user:" + who->user.username;
  } else if (!req.enrollment_code.empty()) {
    if (!user || !code || code->user_id != user->id || user->status != kStatusActive) {
      Error e = Err(ErrorCode::kInvalidEnrollmentCode, "the enrolment code is not valid for this user");
      Refuse(ctx, "webauthn.register", "user:" + req.username.substr(0, 64), e, nullptr);
      return e;
    }
    actor = "enrollment_code";
  } else {
    return Err(ErrorCode::kInvalidToken, "authenticate with a Bearer token or send an enrollment_code");
  }
  // Told before the key is touched; the registration's transaction checks again.
  if (!room) return room.error();

  Ceremony c;
  c.id = NewCeremonyId();
  c.kind = std::string(kRegistration);
  c.user_id = user->id;
  c.challenge = RandomBytes(32);
  c.user_verification = Stronger(req.user_verification, options_.min_user_verification);
  c.enrollment_code_hash = code ? code->code_hash : Bytes{};
  c.actor = actor;
  c.created_at = now;
  c.expires_at = now + options_.ceremony_ttl;
  const std::string handle = SealCeremony(keyring_, c);

  // Written directly in DumpJson's (sorted) order: the bytes it wrote for the same object.
  std::vector<std::string> params, exclude;
  for (int64_t alg : options_.algorithms) {
    params.push_back(JsonObjectWriter().Int("alg", alg).String("type", "public-key").Finish());
  }
  for (const auto& e : existing) exclude.push_back(CredentialDescriptor(e.id, e.transports));
  JsonObjectWriter selection;
  if (!req.authenticator_attachment.empty()) selection.String("authenticatorAttachment", req.authenticator_attachment);
  selection.Bool("requireResidentKey", req.resident_key == "required")
      .String("residentKey", req.resident_key)
      .String("userVerification", c.user_verification);
  CeremonyStarted out;
  out.handle = handle;
  out.public_key =
      JsonObjectWriter()
          .String("attestation", req.attestation)
          .Object("authenticatorSelection", selection.Finish())
          .String("challenge", Base64UrlEncode(c.challenge))
          .Objects("excludeCredentials", exclude)
          .Object("extensions", JsonObjectWriter().Bool("credProps", true).Finish())
          .Objects("pubKeyCredParams", params)
          .Object("rp", JsonObjectWriter().String("id", options_.rp_id).String("name", options_.rp_name).Finish())
          .Int("timeout", options_.ceremony_ttl * 1000)
          .Object("user", JsonObjectWriter()
                              .String("displayName", req.display_name.empty() ? user->display_name : req.display_name)
                              .String("id", user->id)
                              .String("name", user->username)
                              .Finish())
          .Finish();
  return out;
}

Result<RegistrationResult> WebAuthnService::FinishRegistration(std::string_view handle,
                                                               const RegistrationCredential& cred,
                                                               std::string nickname, const AuditContext& ctx) {
  return RunNow(core_.store(), PlanFinishRegistration(handle, cred, std::move(nickname), ctx));
}

Result<Plan<RegistrationResult>> WebAuthnService::PlanFinishRegistration(std::string_view handle,
                                                                         const RegistrationCredential& cred,
                                                                         std::string nickname,
                                                                         const AuditContext& ctx) {
  const std::string action = "webauthn.register";
  if (nickname.size() > 64) return Err(ErrorCode::kInvalidArgument, "nickname is too long");
  AUTHD_ASSIGN_OR_RETURN(Ceremony c, OpenLiveCeremony(handle, kRegistration, ctx, action));
  std::optional<User> user;
  bool used = false;
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(used, tx.CeremonyUsed(c.id, c.expires_at));
    AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserById(c.user_id));
    return Ok();
  }));
  // A replayed response is refused before any of it is checked again (a replayed assertion must
  // not count as a counter regression against its key).
  if (used) return RefuseUnknownCeremony(ctx, action);
  std::string target = user ? "user:" + user->username : "user:unknown";
  auto fail = [&](Error e) -> Error {
    Refuse(ctx, action, target, e, &c);
    return e;
  };
  if (!user || user->status != kStatusActive) return fail(Err(ErrorCode::kUserDisabled, "the user is disabled"));

  webauthn::RegistrationExpectations expected;
  expected.challenge = c.challenge;
  expected.origins = options_.origins;
  expected.rp_id = options_.rp_id;
  expected.allowed_algs = options_.algorithms;
  expected.require_user_verification = c.user_verification == "required";
  expected.trust = options_.trust;
  expected.trust.now = core_.clock().NowSeconds();
  auto verified = webauthn::VerifyRegistration({cred.client_data_json, cred.attestation_object}, expected);
  if (!verified) return fail(verified.error());
  // beyond spec: the id the client reports must be the one the authenticator attested.
  if (!SafeEquals(verified->credential_id, cred.raw_id)) {
    return fail(Err(ErrorCode::kBadRequest, "credential id does not match the attested credential"));
  }

  const int64_t now = core_.clock().NowSeconds();
  RegistrationResult out;
  WebAuthnCredential& w = out.credential;
  w.raw_id = verified->credential_id;
  w.id = Base64UrlEncode(w.raw_id);
  w.user_id = user->id;
  w.public_key = verified->cose_key;
  w.alg = verified->alg;
  w.sign_count = verified->sign_count;
  w.uv_initialized = verified->user_verified;
  w.backup_eligible = verified->backup_eligible;
  w.backup_state = verified->backup_state;
  for (const auto& t : cred.transports) {
    if (OneOf(t, {"usb", "nfc", "ble", "internal", "hybrid", "smart-card"})) w.transports.push_back(t);
  }
  w.aaguid = verified->aaguid;
  w.discoverable = cred.discoverable.value_or(false);
  w.fmt = verified->fmt;
  w.attestation_type = std::string(webauthn::AttestationTypeName(verified->attestation_type));
  Credential& r = out.record;
  r.id = w.id;
  r.user_id = user->id;
  r.type = "webauthn";
  r.nickname = nickname;
  r.created_at = now;
  Json info = {{"aaguid", HexEncode(w.aaguid)},
               {"fmt", w.fmt},
               {"attestation_type", w.attestation_type},
               {"attestation_trusted", verified->attestation_trusted},
               {"alg", w.alg},
               {"transports", w.transports},
               {"backup_eligible", w.backup_eligible},
               {"backup_state", w.backup_state},
               {"user_verified", w.uv_initialized},
               {"discoverable", w.discoverable}};
  r.info = DumpJson(info);

  // The write and its answer may run on the store's writer thread: they own what they use.
  struct Success : PlanCall {
    RegistrationResult out;
    Ceremony ceremony;
    std::string user_id;
  };
  auto done = std::make_shared<Success>(Success{{std::move(target), now, ctx}, std::move(out), std::move(c), user->id});
  Plan<RegistrationResult> plan;
  plan.write = [this, done](WriteTx& tx) -> Status {
    const Ceremony& ceremony = done->ceremony;
    const WebAuthnCredential& key = done->out.credential;
    AUTHD_RETURN_IF_ERROR(Core::UserStillActive(tx, done->user_id));
    AUTHD_ASSIGN_OR_RETURN(bool live, tx.UseCeremony(ceremony.id, ceremony.expires_at));
    if (!live) return Err(ErrorCode::kChallengeUnknown, "the ceremony was used by another request");
    if (!ceremony.enrollment_code_hash.empty()) {
      // An enrolment code is consumed only by a successful registration (API.md).
      AUTHD_ASSIGN_OR_RETURN(bool consumed, tx.ConsumeEnrollmentCode(ceremony.enrollment_code_hash, done->user_id, done->now));
      if (!consumed) return Err(ErrorCode::kInvalidEnrollmentCode, "the enrolment code was used or expired meanwhile");
    }
    // §7.1 step 26: a credential id registered to anyone is refused.
    AUTHD_ASSIGN_OR_RETURN(auto clash, tx.FindWebAuthnCredential(key.raw_id));
    if (clash) return Err(ErrorCode::kCredentialExists, "this key is registered already");
    AUTHD_RETURN_IF_ERROR(core_.CheckRoomForCredential(tx, done->user_id));
    // §7.1 step 29: the record, durably, in this one transaction.
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(done->out.record));
    AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(key));
    AuditEntry e = MakeEntry("webauthn.register", done->target, "success", "", true);
    e.detail = {{"credential", key.id.substr(0, 64)}, {"fmt", key.fmt}, {"attestation_type", key.attestation_type},
                {"by", ceremony.actor}};
    return core_.audit().Append(tx, done->ctx, e);
  };
  plan.finish = AnswerOrRefuse(done, &Success::out, [this](const Success& d, const Error& e) {
    Refuse(d.ctx, "webauthn.register", d.target, e, &d.ceremony);
  });
  return plan;
}

Result<WebAuthnCredential> WebAuthnService::ImportCredential(std::string_view username, const Bytes& raw_id,
                                                             const Bytes& cose_key, std::string appid,
                                                             std::string source, const AuditContext& ctx) {
  if (raw_id.empty() || raw_id.size() > webauthn::kMaxCredentialIdLength) {
    return Err(ErrorCode::kCredentialIdTooLong, "the key handle must be 1 to 1023 bytes");
  }
  if (appid.empty() || appid.size() > 256) return Err(ErrorCode::kInvalidArgument, "appid must be 1 to 256 characters");
  AUTHD_ASSIGN_OR_RETURN(webauthn::CosePublicKey key, webauthn::ParseCoseKey(cose_key));
  AUTHD_ASSIGN_OR_RETURN(std::string name, NormalizeUsername(username));
  WebAuthnCredential w;
  w.raw_id = raw_id;
  w.id = Base64UrlEncode(raw_id);
  w.public_key = cose_key;
  w.alg = key.alg;
  w.aaguid = Bytes(16, 0);
  w.fmt = "none";
  w.attestation_type = "none";
  w.transports = {"usb"};
  w.appid = std::move(appid);
  Credential r;
  r.id = w.id;
  r.type = "webauthn";
  r.nickname = "imported from " + source;
  r.created_at = core_.clock().NowSeconds();
  r.info = DumpJson(Json{{"aaguid", HexEncode(w.aaguid)}, {"fmt", w.fmt}, {"attestation_type", w.attestation_type},
                         {"alg", w.alg}, {"appid", w.appid}, {"imported_from", source}});
  Status s = core_.store().Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(auto user, tx.FindUserByName(name));
    if (!user) return Err(ErrorCode::kNotFound, "no such user");
    w.user_id = r.user_id = user->id;
    AUTHD_ASSIGN_OR_RETURN(auto clash, tx.FindWebAuthnCredential(w.raw_id));
    if (clash) return Err(ErrorCode::kCredentialExists, "this key is registered already");
    AUTHD_RETURN_IF_ERROR(core_.CheckRoomForCredential(tx, user->id));
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(r));
    AUTHD_RETURN_IF_ERROR(tx.InsertWebAuthnCredential(w));
    AuditEntry e = MakeEntry("webauthn.import", "user:" + user->username, "success", "", false);
    e.detail = {{"credential", w.id.substr(0, 64)}, {"source", source}, {"appid", w.appid}};
    return core_.audit().Append(tx, ctx, e);
  });
  if (!s) return s.error();
  return w;
}

// --- authentication ------------------------------------------------------------------------

Result<CeremonyStarted> WebAuthnService::StartAuthentication(const AuthenticationRequest& req,
                                                             const AuditContext& ctx) {
  (void)ctx;
  if (!OneOf(req.user_verification, {"discouraged", "preferred", "required"})) {
    return Err(ErrorCode::kInvalidArgument, "user_verification has an unknown value");
  }
  if (req.username.size() > 256) return Err(ErrorCode::kInvalidArgument, "username is too long");
  const int64_t now = core_.clock().NowSeconds();
  std::optional<User> user;
  std::vector<WebAuthnCredential> creds;
  std::optional<Client> client;
  auto username = NormalizeUsername(req.username);
  const uint64_t stamp = core_.store().CacheStamp();
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    if (!req.username.empty() && username) {
      AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserByName(*username));
      if (user) {
        AUTHD_ASSIGN_OR_RETURN(creds, tx.ListWebAuthnCredentials(user->id));
      }
    }
    if (!req.client_id.empty()) {
      AUTHD_ASSIGN_OR_RETURN(client, tx.FindClient(req.client_id.substr(0, 128)));
    }
    return Ok();
  }));
  // Kept for the verification, if nothing changed while it was read.
  if (user && stamp != 0 && core_.store().CacheStamp() == stamp) users_read_.Put(user->id, *user, stamp, now);
  if (!req.client_id.empty() && (!client || client->status != kStatusActive)) {
    return Err(ErrorCode::kInvalidArgument, "client_id is not a known client");
  }

  Ceremony c;
  c.id = NewCeremonyId();
  c.kind = std::string(kAuthentication);
  c.challenge = RandomBytes(32);
  c.client_id = req.client_id;
  c.user_verification = Stronger(req.user_verification, options_.min_user_verification);
  c.created_at = now;
  c.expires_at = now + options_.ceremony_ttl;
  std::vector<std::string> allow;  // descriptors, as JSON text
  std::string appid;
  if (!req.username.empty()) {
    bool real = user && user->status == kStatusActive && !creds.empty();
    if (real) {
      c.user_id = user->id;
      for (const auto& w : creds) {
        allow.push_back(CredentialDescriptor(w.id, w.transports));
        c.allowed.push_back(AllowedCredentialDigest(w.id));
        if (!w.appid.empty()) appid = w.appid;
      }
      // More keys than a handle lists: the owner check at verify (step 6) still binds the user.
      if (c.allowed.size() > kMaxCeremonyAllowed) c.allowed.clear();
    } else {
      // No account enumeration: an unknown user (or one without keys) gets a made-up but
      // stable credential id of the usual size, so the answer looks like a real one.
      Bytes seed = keyring_.DecoyMac(AsBytes("webauthn-user:" + req.username));
      Bytes fake = seed;
      Bytes more = keyring_.DecoyMac(seed);
      fake.insert(fake.end(), more.begin(), more.end());
      std::string id = Base64UrlEncode(fake);
      allow.push_back(CredentialDescriptor(id, {"usb"}));
      c.user_id = "unknown";
      c.allowed.push_back(AllowedCredentialDigest(id));
    }
  }
  c.appid = appid;
  CeremonyStarted out;
  out.handle = SealCeremony(keyring_, c);
  // Written directly in DumpJson's (sorted) order: the bytes it wrote for the same object.
  JsonObjectWriter options;
  options.Objects("allowCredentials", allow).String("challenge", Base64UrlEncode(c.challenge));
  if (!appid.empty()) options.Object("extensions", JsonObjectWriter().String("appid", appid).Finish());
  out.public_key = options.String("rpId", options_.rp_id)
                       .Int("timeout", options_.ceremony_ttl * 1000)
                       .String("userVerification", c.user_verification)
                       .Finish();
  return out;
}

size_t WebAuthnService::KeptKeys() {
  std::lock_guard<std::mutex> lock(key_cache_mu_);
  return key_cache_.size();
}

std::shared_ptr<const webauthn::CosePublicKey> WebAuthnService::ParsedKey(const WebAuthnCredential& credential) {
  const std::string id(credential.raw_id.begin(), credential.raw_id.end());
  {
    std::lock_guard<std::mutex> lock(key_cache_mu_);
    auto it = key_cache_.find(id);
    // The stored key bytes are compared too: a cache entry never outlives a change of record.
    if (it != key_cache_.end() && it->second.first == credential.public_key) return it->second.second;
  }
  auto parsed = webauthn::ParseCoseKey(credential.public_key);
  if (!parsed) return nullptr;  // VerifyAssertion parses again and reports the problem
  // A kept key checks every later assertion of its credential: its verifying context is set up
  // once, here.
  if (!webauthn::PrepareVerifier(parsed.value())) return nullptr;
  auto key = std::make_shared<const webauthn::CosePublicKey>(std::move(parsed.value()));
  std::shared_ptr<const webauthn::CosePublicKey> evicted;  // freed after the lock is let go
  std::lock_guard<std::mutex> lock(key_cache_mu_);
  if (key_cache_.size() >= std::max<size_t>(options_.kept_keys, 1) && key_cache_.find(id) == key_cache_.end()) {
    // Full: one key goes, from a bucket picked at random, so that keys in steady use mostly stay
    // (dropping them all at once stalled every login behind the lock while thousands were freed).
    size_t b = key_cache_rng_() % key_cache_.bucket_count();
    while (key_cache_.bucket_size(b) == 0) b = (b + 1) % key_cache_.bucket_count();
    auto victim = key_cache_.find(key_cache_.begin(b)->first);
    evicted = std::move(victim->second.second);
    key_cache_.erase(victim);
  }
  key_cache_[id] = {credential.public_key, key};
  return key;
}

Result<IssuedToken> WebAuthnService::FinishAuthentication(std::string_view handle, const AuthenticationCredential& cred,
                                                          const AuditContext& ctx) {
  return RunNow(core_.store(), PlanFinishAuthentication(handle, cred, ctx));
}

Result<Plan<IssuedToken>> WebAuthnService::PlanFinishAuthentication(std::string_view handle,
                                                                    const AuthenticationCredential& cred,
                                                                    const AuditContext& ctx) {
  const std::string action = "webauthn.authenticate";
  AUTHD_ASSIGN_OR_RETURN(Ceremony c, OpenLiveCeremony(handle, kAuthentication, ctx, action));
  std::optional<WebAuthnCredential> w;
  std::optional<User> user;
  bool used = false;
  const uint64_t read_at = core_.store().CacheStamp();
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(used, tx.CeremonyUsed(c.id, c.expires_at));
    AUTHD_ASSIGN_OR_RETURN(w, tx.FindWebAuthnCredential(cred.raw_id));
    if (w) {
      // The owner as the options read it, while no user or credential record has changed since
      // (then as now: `read_at` holds for it too); else read now.
      user = users_read_.Find(w->user_id, read_at, core_.clock().NowSeconds());
      if (!user) {
        AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserById(w->user_id));
      }
    }
    return Ok();
  }));
  // A replayed response is refused before any of it is checked again (a replayed assertion must
  // not count as a counter regression against its key).
  if (used) return RefuseUnknownCeremony(ctx, action);
  std::string target = user ? "user:" + user->username : "credential:unknown";
  auto fail = [&](Error e) -> Error {
    Refuse(ctx, action, target, e, &c);
    return e;
  };
  // The credential record's status comes in the key's row (the store keeps it there too).
  if (!w || !w->status || !user) return fail(Err(ErrorCode::kUnknownCredential, "this key is not registered"));
  std::string id = Base64UrlEncode(cred.raw_id);
  // §7.2 step 5: the credential must be one the options allowed.
  if (!c.allowed.empty() && std::find(c.allowed.begin(), c.allowed.end(), AllowedCredentialDigest(id)) == c.allowed.end()) {
    return fail(Err(ErrorCode::kUnknownCredential, "this key was not asked for"));
  }
  // §7.2 step 6: the credential's owner.
  auto handle_bytes = Base64UrlDecode(user->id);
  if (!c.user_id.empty()) {
    if (w->user_id != c.user_id) return fail(Err(ErrorCode::kUnknownCredential, "this key belongs to someone else"));
    if (cred.user_handle && (!handle_bytes || !SafeEquals(*cred.user_handle, *handle_bytes))) {
      return fail(Err(ErrorCode::kUserHandleMismatch, "the user handle does not match"));
    }
  } else {
    if (!cred.user_handle) return fail(Err(ErrorCode::kMissingUserHandle, "a discoverable credential must return its user handle"));
    if (!handle_bytes || !SafeEquals(*cred.user_handle, *handle_bytes)) {
      return fail(Err(ErrorCode::kUserHandleMismatch, "the user handle does not match the key's owner"));
    }
  }
  if (user->status != kStatusActive) return fail(Err(ErrorCode::kUserDisabled, "the user is disabled"));
  if (*w->status != kStatusActive) return fail(Err(ErrorCode::kCredentialRevoked, "this key was revoked"));

  webauthn::AssertionExpectations expected;
  expected.challenge = c.challenge;
  expected.origins = options_.origins;
  expected.rp_id = options_.rp_id;
  if (cred.appid_extension_used && !w->appid.empty()) expected.appid = w->appid;
  expected.require_user_verification = c.user_verification == "required";
  webauthn::StoredCredential stored{w->public_key, static_cast<uint32_t>(w->sign_count), w->backup_eligible,
                                    ParsedKey(*w)};
  auto verified = webauthn::VerifyAssertion({cred.client_data_json, cred.authenticator_data, cred.signature}, stored,
                                            expected);
  if (!verified) {
    if (verified.code() == ErrorCode::kCounterRegression) {
      // §7.2 step 22: a possible clone. Flag it (and by policy take the key out of service).
      (void)core_.store().Write([&](WriteTx& tx) -> Status {
        AUTHD_RETURN_IF_ERROR(tx.MarkCloneSuspected(w->raw_id));
        if (options_.counter_policy == CounterPolicy::kRejectAndDisable) {
          AUTHD_RETURN_IF_ERROR(tx.SetCredentialStatus(user->id, w->id, kStatusDisabled));
        }
        AuditEntry e = MakeEntry("webauthn.clone_suspected", "credential:" + w->id.substr(0, 64), "failure",
                             "counter_regression", false);
        e.detail = {{"user", user->username}, {"stored_count", w->sign_count},
                    {"disabled", options_.counter_policy == CounterPolicy::kRejectAndDisable}};
        return core_.audit().Append(tx, ctx, e);
      });
    }
    return fail(verified.error());
  }

  const int64_t now = core_.clock().NowSeconds();
  std::vector<std::string> amr = {"hwk"};
  if (verified->user_verified) amr.push_back("pin");
  auto minted = core_.tokens().Mint(*user, w->id, c.client_id, amr, now);
  if (!minted) return fail(minted.error());
  // The write and its answer may run on the store's writer thread: they own what they use.
  struct Success : PlanCall {
    IssuedToken token;
    Ceremony ceremony;
    Bytes raw_id;
    std::string credential_id;
    int64_t stored_count = 0;
    webauthn::AssertionOutcome verified;
    uint64_t read_at = 0;
  };
  auto done = std::make_shared<Success>(Success{{std::move(target), now, ctx}, std::move(minted.value()), std::move(c),
                                                w->raw_id, w->id, w->sign_count, *verified, read_at});
  Plan<IssuedToken> plan;
  plan.write = [this, done](WriteTx& tx) -> Status {
    const Ceremony& spent = done->ceremony;
    const webauthn::AssertionOutcome& v = done->verified;
    AUTHD_RETURN_IF_ERROR(core_.StillInService(tx, done->read_at, done->token.record.user_id, done->credential_id));
    AUTHD_ASSIGN_OR_RETURN(bool live, tx.UseCeremony(spent.id, spent.expires_at));
    if (!live) return Err(ErrorCode::kChallengeUnknown, "the ceremony was used by another request");
    // §7.2 step 24: the counter advances only from the value this verification saw (P2).
    AUTHD_ASSIGN_OR_RETURN(bool advanced, tx.AdvanceWebAuthnCounter(done->raw_id, done->stored_count, v.sign_count,
                                                                    v.backup_state, v.user_verified, done->now));
    if (!advanced) return Err(ErrorCode::kCounterRegression, "the key was used concurrently");
    AUTHD_RETURN_IF_ERROR(TokenService::Record(tx, done->token));
    AuditEntry e = MakeEntry("webauthn.authenticate", done->target, "success", "", true);
    e.detail = {{"credential", done->credential_id.substr(0, 64)}, {"jti", done->token.record.jti},
                {"user_verified", v.user_verified}};
    return core_.audit().Append(tx, done->ctx, e);
  };
  plan.finish = AnswerOrRefuse(done, &Success::token, [this](const Success& d, const Error& e) {
    Refuse(d.ctx, "webauthn.authenticate", d.target, e, &d.ceremony);
  });
  return plan;
}

}  // namespace authd::domain
