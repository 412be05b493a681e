#include "authd/domain/otp_service.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "authd/base/clock.h"
#include "authd/base/crypto.h"
#include "authd/base/json.h"
#include "authd/base/encoding.h"
#include "authd/domain/policy.h"

namespace authd::domain {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max() / 2;

std::string UserSubject(std::string_view user_id) { return "user:" + std::string(user_id); }
std::string CredentialSubject(std::string_view id) { return "credential:" + std::string(id); }

std::string TotpContext(std::string_view credential_id) { return "totp:" + std::string(credential_id); }
std::string YubiContext(std::string_view public_id) { return "yubiotp:" + std::string(public_id); }

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The same work a real TOTP check does, on a secret nobody has, so an unknown or locked user
// costs as much time as a known one.
void DecoyTotp(const Keyring& keyring, std::string_view username, std::string_view code, int window) {
  Bytes secret = keyring.DecoyMac(AsBytes(username));
  secret.resize(20);
  (void)otp::MatchTotp(secret, otp::TotpParams{}, code, 1, window);
}

}  // namespace

struct OtpService::YubiCheck {
  User user;
  YubiOtpCredential cred;
  otp::YubiOtpToken token;
  bool key_failures = false;   // the check's read found failures counted against the key
  bool user_failures = false;  // ... or against its owner
  uint64_t read_at = 0;        // the store's CacheStamp before the read (Core::StillInService)
};

// The key, its owner, its credential record and the failures counted against each.
struct OtpService::YubiState {
  std::string public_id;  // what was looked up
  uint64_t read_at = 0;   // the store's CacheStamp before the read
  std::optional<YubiOtpCredential> key;
  std::optional<User> user;
  std::optional<std::string> status;  // of its credential record
  std::optional<FailureCounter> key_counter, user_counter;
};

Status OtpService::ReadYubiState(ReadTx& tx, std::string_view public_id, YubiState& out) {
  out.public_id = std::string(public_id);
  AUTHD_ASSIGN_OR_RETURN(out.key, tx.FindYubiOtpCredential(public_id));
  if (!out.key) return Ok();
  AUTHD_ASSIGN_OR_RETURN(out.user, tx.FindUserById(out.key->user_id));
  AUTHD_ASSIGN_OR_RETURN(out.status, tx.FindCredentialStatus(out.key->id));
  AUTHD_ASSIGN_OR_RETURN(out.key_counter, tx.FindFailureCounter(CredentialSubject(out.key->id)));
  AUTHD_ASSIGN_OR_RETURN(out.user_counter, tx.FindFailureCounter(UserSubject(out.key->user_id)));
  return Ok();
}

OtpService::OtpService(Core& core, const Keyring& keyring, OtpOptions options)
    : core_(core), keyring_(keyring), options_(std::move(options)) {}

void OtpService::Refuse(const AuditContext& ctx, const std::string& action, const std::string& target,
                        const Error& error, Json detail) {
  AuditEntry e = MakeEntry(action, target, "failure", std::string(ErrorCodeName(error.code)));
  e.detail = std::move(detail);
  core_.AuditRefusal(ctx, std::move(e));
}

int64_t OtpService::LockUntil(int64_t failures, int64_t now) const {
  if (failures >= options_.max_failures) return kForever;
  if (failures >= options_.delay_after) return now + (failures - options_.delay_after + 1) * options_.delay_seconds;
  return 0;
}

Status OtpService::RecordFailure(WriteTx& tx, std::string_view subject, std::string_view user_id, int64_t now) const {
  AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RecordFailure(subject, user_id, now));
  const int64_t until = LockUntil(n, now);
  if (until > 0) AUTHD_RETURN_IF_ERROR(tx.SetLockedUntil(subject, until));
  return Ok();
}

Result<int64_t> OtpService::LockedFor(std::string_view subject) {
  std::optional<FailureCounter> f;
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(f, tx.FindFailureCounter(subject));
    return Ok();
  }));
  const int64_t now = core_.clock().NowSeconds();
  if (!f || f->locked_until <= now) return int64_t{0};
  return f->locked_until - now;
}

Result<Client> OtpService::CheckClientId(std::string_view client_id) {
  AUTHD_ASSIGN_OR_RETURN(std::optional<Client> client, core_.FindClientKept(client_id.substr(0, 128)));
  if (!client || client->status != kStatusActive) return Err(ErrorCode::kInvalidArgument, "client_id is not a known client");
  return std::move(*client);
}

// --- TOTP ----------------------------------------------------------------------------------

Result<otp::TotpParams> OtpService::ParamsFor(const TotpEnrollmentRequest& req) const {
  otp::TotpParams p = options_.totp;
  if (!req.algorithm.empty()) {
    auto alg = otp::ParseHashAlg(req.algorithm);
    if (!alg) return Err(ErrorCode::kInvalidArgument, "algorithm must be SHA1, SHA256 or SHA512");
    p.alg = *alg;
  }
  if (req.digits != 0) {
    if (req.digits != 6 && req.digits != 8) return Err(ErrorCode::kInvalidArgument, "digits must be 6 or 8");
    p.digits = static_cast<int>(req.digits);
  }
  if (req.period != 0) {
    if (req.period != 30 && req.period != 60) return Err(ErrorCode::kInvalidArgument, "period must be 30 or 60");
    p.period = static_cast<int>(req.period);
  }
  return p;
}

Result<TotpEnrollmentStarted> OtpService::StartTotpEnrollment(const std::optional<Principal>& who,
                                                              const TotpEnrollmentRequest& req,
                                                              const AuditContext& ctx) {
  const std::string action = "totp.enroll";
  AUTHD_ASSIGN_OR_RETURN(otp::TotpParams params, ParamsFor(req));
  auto username = NormalizeUsername(req.username);
  if (!username) return Err(ErrorCode::kInvalidUsername, "username is not valid");
  const int64_t now = core_.clock().NowSeconds();
  std::optional<User> user;
  std::optional<EnrollmentCode> code;
  Bytes code_hash;
  Status room = Ok();
  if (!req.enrollment_code.empty()) code_hash = HashEnrollmentCode(req.enrollment_code.substr(0, 128));
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserByName(*username));
    if (user) room = core_.CheckRoomForCredential(tx, user->id);
    if (!code_hash.empty()) {
      AUTHD_ASSIGN_OR_RETURN(code, tx.FindLiveEnrollmentCode(code_hash, now));
    }
    return Ok();
  }));
  std::string actor;
  const std::string target = "user:" + username->substr(0, 64);
  if (who) {
    const bool self = user && who->user.id == user->id;
    if (!self) AUTHD_RETURN_IF_ERROR(core_.Authorize(*who, Permission::kRegisterCredential, ctx, target));
    if (!user) return Err(ErrorCode::kNotFound, "no such user");
    if (user->status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user is disabled");
    actor = "user:" + who->user.username;
    code_hash.clear();
  } else if (!req.enrollment_code.empty()) {
    if (!user || !code || code->user_id != user->id || user->status != kStatusActive) {
      Error e = Err(ErrorCode::kInvalidEnrollmentCode, "the enrolment code is not valid for this user");
      Refuse(ctx, action, target, e);
      return e;
    }
    actor = "enrollment_code";
  } else {
    return Err(ErrorCode::kInvalidToken, "authenticate with a Bearer token or send an enrollment_code");
  }
  // Told before the QR code is shown; the confirmation's transaction checks again.
  if (!room) return room.error();

  // 160 bits for SHA-1 (RFC 4226 §4 R6), the hash's output length for the others.
  const size_t secret_len = params.alg == otp::HashAlg::kSha512 ? 64 : params.alg == otp::HashAlg::kSha256 ? 32 : 20;
  SecretBytes secret = RandomSecret(secret_len);
  TotpEnrollment e;
  const std::string handle = RandomId(32);
  e.id_hash = Sha256(AsBytes(handle));
  e.credential_id = "totp_" + RandomId(16);
  e.user_id = user->id;
  e.secret_sealed = keyring_.Seal(secret.view(), TotpContext(e.credential_id));
  e.algorithm = std::string(otp::HashAlgName(params.alg));
  e.digits = params.digits;
  e.period = params.period;
  e.actor = actor;
  e.enrollment_code_hash = code_hash;
  e.created_at = now;
  e.expires_at = now + options_.enrollment_ttl;
  AUTHD_RETURN_IF_ERROR(core_.store().Write([&](WriteTx& tx) -> Status {
    (void)tx.DeleteTotpEnrollmentsExpiredBefore(now - 60);
    AUTHD_RETURN_IF_ERROR(core_.CheckRoomForCredential(tx, e.user_id));
    AUTHD_RETURN_IF_ERROR(tx.InsertTotpEnrollment(e));
    AuditEntry a = MakeEntry("totp.enroll.start", target, "success", "");
    a.attempt = false;
    a.detail = {{"algorithm", e.algorithm}, {"digits", e.digits}, {"period", e.period}};
    return core_.audit().Append(tx, ctx, a);
  }));
  TotpEnrollmentStarted out;
  out.handle = handle;
  out.secret = Base32Encode(secret.view());
  while (!out.secret.empty() && out.secret.back() == '=') out.secret.pop_back();
  out.otpauth_uri = otp::OtpauthUri(options_.issuer, user->username, secret.view(), params);
  out.params = params;
  out.expires_at = e.expires_at;
  return out;
}

Result<Credential> OtpService::ConfirmTotpEnrollment(std::string_view handle, std::string_view code,
                                                     const AuditContext& ctx) {
  const std::string action = "totp.enroll.confirm";
  const Bytes id_hash = Sha256(AsBytes(handle.substr(0, 256)));
  const int64_t now = core_.clock().NowSeconds();
  std::optional<TotpEnrollment> e;
  std::optional<User> user;
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(e, tx.FindTotpEnrollment(id_hash));
    if (e) {
      AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserById(e->user_id));
    }
    return Ok();
  }));
  if (!e) {
    Error err = Err(ErrorCode::kChallengeUnknown, "no such enrolment: start again");
    Refuse(ctx, action, "enrollment", err);
    return err;
  }
  const std::string target = user ? "user:" + user->username : "user:unknown";
  if (e->expires_at <= now) {
    Error err = Err(ErrorCode::kChallengeExpired, "the enrolment expired: start again");
    Refuse(ctx, action, target, err);
    return err;
  }
  if (!user || user->status != kStatusActive) {
    Error err = Err(ErrorCode::kUserDisabled, "the user is disabled");
    Refuse(ctx, action, target, err);
    return err;
  }
  otp::TotpParams p{otp::ParseHashAlg(e->algorithm).value_or(otp::HashAlg::kSha1), static_cast<int>(e->digits),
                    static_cast<int>(e->period)};
  if (auto f = otp::CheckCodeFormat(code, p.digits); !f) {
    Refuse(ctx, action, target, f.error());
    return f.error();
  }
  AUTHD_ASSIGN_OR_RETURN(SecretBytes secret, keyring_.Open(e->secret_sealed, TotpContext(e->credential_id)));
  auto step = otp::MatchTotp(secret.view(), p, code, otp::TimeStep(now, p.period), options_.totp_window);
  if (!step) {
    Error err = Err(ErrorCode::kOtpInvalid, "the code does not match: check the app's clock and try the next code");
    Refuse(ctx, action, target, err);
    return err;
  }
  Credential cred;
  cred.id = e->credential_id;
  cred.user_id = user->id;
  cred.type = "totp";
  cred.nickname = "TOTP";
  cred.info = DumpJson(Json{{"algorithm", e->algorithm}, {"digits", e->digits}, {"period", e->period}});
  cred.created_at = now;
  Status s = core_.store().Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(Core::UserStillActive(tx, user->id));
    AUTHD_ASSIGN_OR_RETURN(bool live, tx.TakeTotpEnrollment(id_hash));
    if (!live) return Err(ErrorCode::kChallengeUnknown, "the enrolment was confirmed by another request");
    if (!e->enrollment_code_hash.empty()) {
      AUTHD_ASSIGN_OR_RETURN(bool used, tx.ConsumeEnrollmentCode(e->enrollment_code_hash, user->id, now));
      if (!used) return Err(ErrorCode::kInvalidEnrollmentCode, "the enrolment code was used or expired meanwhile");
    }
    AUTHD_RETURN_IF_ERROR(core_.CheckRoomForCredential(tx, user->id));
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(cred));
    TotpCredential t;
    t.id = cred.id;
    t.user_id = user->id;
    t.secret_sealed = e->secret_sealed;
    t.algorithm = e->algorithm;
    t.digits = e->digits;
    t.period = e->period;
    t.last_step = *step;  // the confirming code cannot be used again to log in
    AUTHD_RETURN_IF_ERROR(tx.InsertTotpCredential(t));
    AuditEntry a = MakeEntry(action, target, "success", "");
    a.detail = {{"credential", cred.id}, {"actor", e->actor}};
    return core_.audit().Append(tx, ctx, a);
  });
  if (!s) {
    Refuse(ctx, action, target, s.error());
    return s.error();
  }
  return cred;
}

Result<IssuedToken> OtpService::VerifyTotp(std::string_view username, std::string_view code,
                                           std::string_view client_id, const AuditContext& ctx) {
  return RunNow(core_.store(), PlanVerifyTotp(username, code, client_id, ctx));
}

Result<Plan<IssuedToken>> OtpService::PlanVerifyTotp(std::string_view username, std::string_view code,
                                                     std::string_view client_id, const AuditContext& ctx) {
  const std::string action = "totp.verify";
  auto norm = NormalizeUsername(username);
  if (!norm) return Err(ErrorCode::kInvalidUsername, "username is not valid");
  if (!client_id.empty()) {
    if (auto c = CheckClientId(client_id); !c) return c.error();
  }
  const std::string target = "user:" + norm->substr(0, 64);
  const int64_t now = core_.clock().NowSeconds();
  std::optional<User> user;
  std::vector<TotpCredential> creds;  // only confirmed credentials that are still active take part
  std::optional<FailureCounter> counter;
  const uint64_t read_at = core_.store().CacheStamp();
  AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(user, tx.FindUserByName(*norm));
    if (user) {
      AUTHD_ASSIGN_OR_RETURN(creds, tx.ListActiveTotpCredentials(user->id));
      AUTHD_ASSIGN_OR_RETURN(counter, tx.FindFailureCounter(UserSubject(user->id)));
    }
    return Ok();
  }));
  const Error invalid = Err(ErrorCode::kOtpInvalid, "the code is not valid");
  std::set<int64_t> digit_counts;
  for (const auto& t : creds) digit_counts.insert(t.digits);
  if (digit_counts.empty()) digit_counts.insert(options_.totp.digits);
  // T07: a code of the wrong shape is refused before any secret is touched, and counted.
  bool well_formed = false;
  for (int64_t d : digit_counts) well_formed = well_formed || otp::CheckCodeFormat(code, static_cast<int>(d));
  const bool real = user && user->status == kStatusActive && !creds.empty();
  const bool locked = real && counter && counter->locked_until > now;
  if (!well_formed) {
    // The shape of a code says nothing about the account, so it is answered first, alike for
    // everyone; for a real, unlocked account it still counts as a failure.
    Error e = Err(ErrorCode::kOtpFormat, "the code must be digits only, as many as the app shows");
    if (real && !locked) {
      (void)core_.store().Write([&](WriteTx& tx) -> Status {
        AUTHD_RETURN_IF_ERROR(RecordFailure(tx, UserSubject(user->id), user->id, now));
        return core_.audit().Append(tx, ctx, MakeEntry(action, target, "failure", "otp_format"));
      });
    } else {
      Refuse(ctx, action, target, e, {{"locked", locked}});
    }
    return e;
  }
  if (!real || locked) {
    // Unknown, disabled or locked: the same answer as a wrong code, after the same work.
    DecoyTotp(keyring_, *norm, code, options_.totp_window);
    Refuse(ctx, action, target, invalid, {{"locked", locked}});
    return invalid;
  }

  std::optional<TotpCredential> matched;
  int64_t step = 0, now_step = 0;
  for (const auto& t : creds) {
    otp::TotpParams p{otp::ParseHashAlg(t.algorithm).value_or(otp::HashAlg::kSha1), static_cast<int>(t.digits),
                      static_cast<int>(t.period)};
    if (otp::CheckCodeFormat(code, p.digits).ok() == false) continue;
    AUTHD_ASSIGN_OR_RETURN(SecretBytes secret, keyring_.Open(t.secret_sealed, TotpContext(t.id)));
    const int64_t here = otp::TimeStep(now, p.period);
    auto s = otp::MatchTotp(secret.view(), p, code, here, options_.totp_window, t.last_step);
    // A fresh match (after its credential's last step) wins over a replayed one of another.
    if (s && (!matched || (step <= matched->last_step && *s > t.last_step))) {
      matched = t;
      step = *s;
      now_step = here;
    }
  }
  if (!matched) {
    (void)core_.store().Write([&](WriteTx& tx) -> Status {
      AUTHD_RETURN_IF_ERROR(RecordFailure(tx, UserSubject(user->id), user->id, now));
      return core_.audit().Append(tx, ctx, MakeEntry(action, target, "failure", "otp_invalid"));
    });
    return invalid;
  }
  // T01/T02/T08: a step at or before the last accepted one is a replay, whatever the clock says.
  const Error replayed = Err(ErrorCode::kOtpReplayed, "this code was used already: wait for the next one");
  Json detail = {{"credential", matched->id}, {"drift", step - now_step}};
  if (step <= matched->last_step) {
    detail["last_step"] = matched->last_step;
    if (now_step + options_.totp_window < matched->last_step) detail["clock_behind"] = true;  // T08 drift alarm
    Refuse(ctx, action, target, replayed, detail);
    return replayed;
  }
  auto minted = core_.tokens().Mint(*user, matched->id, client_id, {"otp"}, now);
  if (!minted) {
    Refuse(ctx, action, target, minted.error(), detail);
    return minted.error();
  }
  // The write and its answer may run on the store's writer thread: they own what they use.
  struct Success : PlanCall {
    IssuedToken token;
    std::string credential_id, user_id;
    int64_t step = 0;
    bool clear_failures = false;
    Json detail;
    uint64_t read_at = 0;
  };
  auto done = std::make_shared<Success>(Success{{target, now, ctx}, std::move(minted.value()), matched->id, user->id,
                                                step, counter.has_value(), std::move(detail), read_at});
  Plan<IssuedToken> plan;
  plan.write = [this, done, replayed](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(core_.StillInService(tx, done->read_at, done->user_id, done->credential_id));
    // P8 across concurrent requests: wrong codes counted since the check read may have locked the
    // account; a right code written after them is refused, as every code is while it is locked.
    AUTHD_ASSIGN_OR_RETURN(auto failures, tx.FindFailureCounter(UserSubject(done->user_id)));
    if (failures && failures->locked_until > done->now) return Err(ErrorCode::kLocked, "locked meanwhile");
    AUTHD_ASSIGN_OR_RETURN(bool advanced, tx.AdvanceTotpStep(done->credential_id, done->step, done->now));
    if (!advanced) return replayed;  // a concurrent request used this step first
    // A success clears the failures the check read; with none read, there is nothing to clear (a
    // failure counted since by a concurrent request stands).
    if (done->clear_failures) AUTHD_RETURN_IF_ERROR(tx.ClearFailures(UserSubject(done->user_id)));
    AUTHD_RETURN_IF_ERROR(TokenService::Record(tx, done->token));
    AuditEntry a = MakeEntry("totp.verify", done->target, "success", "");
    a.detail = done->detail;
    a.detail["jti"] = done->token.record.jti;
    return core_.audit().Append(tx, done->ctx, a);
  };
  plan.finish = [this, done, invalid](Status s) -> Result<IssuedToken> {
    if (s) return std::move(done->token);
    Refuse(done->ctx, "totp.verify", done->target, s.error(), done->detail);
    // Disabled, taken out of service or locked since the check: answered as the check answers them.
    if (s.code() == ErrorCode::kUserDisabled || s.code() == ErrorCode::kCredentialRevoked ||
        s.code() == ErrorCode::kLocked) {
      return invalid;
    }
    return s.error();
  };
  return plan;
}

// --- YubiKey OTP ---------------------------------------------------------------------------

Result<Credential> OtpService::RegisterYubiOtp(const AuditContext& ctx, std::string_view username,
                                               const YubiOtpRegistration& req) {
  auto pid = otp::ModhexDecode(req.public_id);
  if (!pid || pid->empty() || pid->size() > 8) {
    return Err(ErrorCode::kInvalidArgument, "public_id must be 2 to 16 lower-case modhex characters");
  }
  if (req.private_id.size() != 12 || !IsHex(req.private_id)) {
    return Err(ErrorCode::kInvalidArgument, "private_id must be 12 lower-case hex digits");
  }
  if (req.aes_key.size() != 32 || !IsHex(req.aes_key)) {
    return Err(ErrorCode::kInvalidArgument, "aes_key must be 32 lower-case hex digits");
  }
  if (req.nickname.size() > 64) return Err(ErrorCode::kInvalidArgument, "nickname is too long");
  Bytes secret = *HexDecode(req.aes_key);
  Bytes uid = *HexDecode(req.private_id);
  secret.insert(secret.end(), uid.begin(), uid.end());
  const int64_t now = core_.clock().NowSeconds();
  Credential cred;
  Status s = core_.store().Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, core_.LoadUser(tx, username));
    if (user.status != kStatusActive) return Err(ErrorCode::kUserDisabled, "the user is disabled");
    // A public id belongs to one live key. A revoked key's id may be registered again (the key
    // was reprogrammed); its old record stays, revoked, in the credential history.
    AUTHD_ASSIGN_OR_RETURN(auto existing, tx.FindYubiOtpCredential(req.public_id));
    Json replaced;
    if (existing) {
      AUTHD_ASSIGN_OR_RETURN(auto old, tx.FindCredential(existing->id));
      if (old && old->status == kStatusActive) {
        if (old->user_id != user.id) {
          return Err(ErrorCode::kCredentialExists,
                     "this YubiKey's public id is registered to another user; revoke that registration first");
        }
        if (!req.replace) {
          return Err(ErrorCode::kCredentialExists,
                     "this YubiKey is registered already; revoke that registration first (or replace it)");
        }
        // Reprogrammed: the old secret is gone from the key, so its registration and tokens go too.
        AUTHD_RETURN_IF_ERROR(core_.RevokeCredentialIn(tx, ctx, user, old->id, "replaced"));
        replaced = old->id;
      }
      AUTHD_RETURN_IF_ERROR(tx.DeleteYubiOtpCredential(req.public_id));
    }
    AUTHD_RETURN_IF_ERROR(core_.CheckRoomForCredential(tx, user.id));
    cred.id = "yubiotp_" + req.public_id + "_" + RandomId(6);
    cred.user_id = user.id;
    cred.type = "yubiotp";
    cred.nickname = req.nickname.empty() ? "YubiKey " + req.public_id : req.nickname;
    cred.info = DumpJson(Json{{"public_id", req.public_id}});
    cred.created_at = now;
    YubiOtpCredential y;
    y.public_id = req.public_id;
    y.id = cred.id;
    y.user_id = user.id;
    y.secret_sealed = keyring_.Seal(secret, YubiContext(req.public_id));
    AUTHD_RETURN_IF_ERROR(tx.InsertYubiOtpCredential(y));
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(cred));
    AuditEntry a = MakeEntry("yubiotp.register", "user:" + user.username, "success", "");
    a.attempt = false;
    a.detail = {{"credential", cred.id}, {"public_id", req.public_id}};
    if (!replaced.is_null()) a.detail["replaced"] = replaced;
    return core_.audit().Append(tx, ctx, a);
  });
  OPENSSL_cleanse(secret.data(), secret.size());
  OPENSSL_cleanse(uid.data(), uid.size());
  if (!s) return s.error();
  return cred;
}

Result<OtpService::YubiCheck> OtpService::CheckYubiOtp(std::string_view otp_text, std::string_view nonce,
                                                       const AuditContext& ctx, const std::string& action,
                                                       std::string_view client_id, bool* replayed_request,
                                                       YubiState* state) {
  // Y06: the format first; nothing is looked up for a malformed OTP.
  auto parts = otp::SplitYubiOtp(otp_text);
  if (!parts) {
    Refuse(ctx, action, "yubikey:malformed", parts.error());
    return parts.error();
  }
  const std::string target = "yubikey:" + parts->public_id;
  const int64_t now = core_.clock().NowSeconds();
  YubiCheck out;
  YubiState read;
  if (!state || state->public_id != parts->public_id) {
    read.read_at = core_.store().CacheStamp();
    AUTHD_RETURN_IF_ERROR(core_.store().Read([&](ReadTx& tx) { return ReadYubiState(tx, parts->public_id, read); }));
    state = &read;
  }
  std::optional<YubiOtpCredential>& y = state->key;
  std::optional<User>& user = state->user;
  const std::optional<std::string>& status = state->status;
  const std::optional<FailureCounter>& key_counter = state->key_counter;
  const std::optional<FailureCounter>& user_counter = state->user_counter;
  const Error invalid = Err(ErrorCode::kOtpInvalid, "the OTP is not valid");
  if (!y || !user || !status) {
    Refuse(ctx, action, target, invalid, {{"known", false}});
    return invalid;
  }
  Json detail = {{"user", user->username}, {"credential", y->id}};
  if (!client_id.empty()) detail["client"] = client_id;
  if (*status != kStatusActive) {
    Error e = Err(ErrorCode::kCredentialRevoked, "this YubiKey was revoked");
    Refuse(ctx, action, target, e, detail);
    return e;
  }
  if (user->status != kStatusActive) {
    Error e = Err(ErrorCode::kUserDisabled, "the user is disabled");
    Refuse(ctx, action, target, e, detail);
    return e;
  }
  if ((key_counter && key_counter->locked_until > now) || (user_counter && user_counter->locked_until > now)) {
    detail["locked"] = true;
    Refuse(ctx, action, target, invalid, detail);
    return invalid;
  }
  AUTHD_ASSIGN_OR_RETURN(SecretBytes secret, keyring_.Open(y->secret_sealed, YubiContext(y->public_id)));
  ByteView all = secret.view();
  auto tok = otp::DecryptYubiOtp(parts->ciphertext, all.subspan(0, 16), all.subspan(16, 6));
  if (!tok) {
    (void)core_.store().Write([&](WriteTx& tx) -> Status {
      AUTHD_RETURN_IF_ERROR(RecordFailure(tx, CredentialSubject(y->id), y->user_id, now));
      AUTHD_RETURN_IF_ERROR(RecordFailure(tx, UserSubject(y->user_id), y->user_id, now));
      AuditEntry a = MakeEntry(action, target, "failure", "otp_invalid");
      a.detail = detail;
      return core_.audit().Append(tx, ctx, a);
    });
    return invalid;
  }
  detail["use_counter"] = tok->use_counter;
  detail["session_counter"] = tok->session_counter;
  // Y02: the very request ykval answered already (same OTP, same nonce).
  if (!nonce.empty() && y->last_otp == otp_text && y->last_nonce == nonce) {
    if (replayed_request) *replayed_request = true;
    Error e = Err(ErrorCode::kOtpReplayed, "this request was answered already");
    Refuse(ctx, action, target, e, detail);
    return e;
  }
  // Y01/Y03: counters must move forward.
  const Error replayed = Err(ErrorCode::kOtpReplayed, "this OTP was used already");
  if (!otp::CountersAdvance(tok->use_counter, tok->session_counter, y->use_counter, y->session_counter)) {
    detail["stored_use_counter"] = y->use_counter;
    detail["stored_session_counter"] = y->session_counter;
    Refuse(ctx, action, target, replayed, detail);
    return replayed;
  }
  out.user = std::move(*user);
  out.cred = std::move(*y);
  out.token = *tok;
  out.key_failures = key_counter.has_value();
  out.user_failures = user_counter.has_value();
  out.read_at = state->read_at;
  (void)detail;
  return out;
}

// A success clears the failures its check read; with none read, there is nothing to clear (a
// failure counted since by a concurrent request stands).
Status OtpService::ClearFailuresRead(WriteTx& tx, const YubiCheck& c) {
  if (c.key_failures) AUTHD_RETURN_IF_ERROR(tx.ClearFailures(CredentialSubject(c.cred.id)));
  if (c.user_failures) AUTHD_RETURN_IF_ERROR(tx.ClearFailures(UserSubject(c.user.id)));
  return Ok();
}

Result<IssuedToken> OtpService::VerifyYubiOtp(std::string_view otp_text, std::string_view client_id,
                                              const AuditContext& ctx) {
  return RunNow(core_.store(), PlanVerifyYubiOtp(otp_text, client_id, ctx));
}

Result<Plan<IssuedToken>> OtpService::PlanVerifyYubiOtp(std::string_view otp_text, std::string_view client_id,
                                                        const AuditContext& ctx) {
  const std::string action = "yubiotp.verify";
  if (!client_id.empty()) {
    if (auto c = CheckClientId(client_id); !c) return c.error();
  }
  AUTHD_ASSIGN_OR_RETURN(YubiCheck c, CheckYubiOtp(otp_text, "", ctx, action, client_id));
  const int64_t now = core_.clock().NowSeconds();
  std::string target = "yubikey:" + c.cred.public_id;
  auto minted = core_.tokens().Mint(c.user, c.cred.id, client_id, {"otp"}, now);
  if (!minted) {
    Refuse(ctx, action, target, minted.error());
    return minted.error();
  }
  // The write and its answer may run on the store's writer thread: they own what they use.
  struct Success : PlanCall {
    YubiCheck check;
    IssuedToken token;
    std::string otp;
  };
  auto done = std::make_shared<Success>(
      Success{{std::move(target), now, ctx}, std::move(c), std::move(minted.value()), std::string(otp_text)});
  Plan<IssuedToken> plan;
  plan.write = [this, done](WriteTx& tx) -> Status {
    const YubiCheck& k = done->check;
    AUTHD_RETURN_IF_ERROR(core_.StillInService(tx, k.read_at, k.user.id, k.cred.id));
    AUTHD_ASSIGN_OR_RETURN(bool advanced, tx.AdvanceYubiOtpCounters(k.cred.public_id, k.token.use_counter,
                                                                    k.token.session_counter, "", done->otp,
                                                                    done->now));
    if (!advanced) return Err(ErrorCode::kOtpReplayed, "this OTP was used already");
    AUTHD_RETURN_IF_ERROR(ClearFailuresRead(tx, k));
    AUTHD_RETURN_IF_ERROR(TokenService::Record(tx, done->token));
    AuditEntry a = MakeEntry("yubiotp.verify", done->target, "success", "");
    a.detail = {{"user", k.user.username}, {"credential", k.cred.id}, {"jti", done->token.record.jti}};
    return core_.audit().Append(tx, done->ctx, a);
  };
  plan.finish = AnswerOrRefuse(done, &Success::token, [this](const Success& d, const Error& e) {
    Refuse(d.ctx, "yubiotp.verify", d.target, e);
  });
  return plan;
}

// --- the Yubico validation protocol 2.0 ----------------------------------------------------

YkvalAnswer OtpService::Ykval(const std::map<std::string, std::string>& params, std::string_view source,
                              const AuditContext& ctx) {
  return std::move(RunNow(core_.store(), PlanYkval(params, source, ctx)).value());  // its plans never fail
}

std::optional<OtpService::YkvalRefusal> OtpService::JudgeYkvalClient(const Client& client,
                                                                    const std::map<std::string, std::string>& params,
                                                                    const otp::YkvalRequest& request,
                                                                    std::string_view source, Bytes& key) const {
  auto opened = keyring_.Open(client.ykval_key_sealed, "client.ykval_key:" + client.client_id);
  if (!opened) return YkvalRefusal{"BACKEND_ERROR", ""};
  key = Bytes(opened->view().begin(), opened->view().end());
  // Y08: the request's signature, when the client signs (and always, when required).
  const std::string& h = request.h;
  if (!h.empty() || options_.ykval_require_signature) {
    const std::string expected = otp::YkvalSignature(params, key);
    if (h.empty() || !SafeEquals(AsBytes(expected), AsBytes(h))) return YkvalRefusal{"BAD_SIGNATURE", ""};
  }
  if (client.status != kStatusActive) return YkvalRefusal{"OPERATION_NOT_ALLOWED", "client_disabled"};
  auto allow = IpAllowList::Parse(client.allowed_ips);
  if (!allow || !allow->Allows(source)) return YkvalRefusal{"OPERATION_NOT_ALLOWED", "address_not_allowed"};
  if (std::find(client.scopes.begin(), client.scopes.end(), kScopeYkval) == client.scopes.end()) {
    return YkvalRefusal{"OPERATION_NOT_ALLOWED", "insufficient_scope"};
  }
  return std::nullopt;
}

Plan<YkvalAnswer> OtpService::PlanYkval(const std::map<std::string, std::string>& params, std::string_view source,
                                        const AuditContext& ctx) {
  const std::string action = "ykval.verify";
  YkvalAnswer out;
  auto get = [&](const char* k) -> std::string {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  };
  const std::string id = get("id"), otp_text = get("otp"), nonce = get("nonce");
  {
    // ykval's timestamp: UTC seconds, "Z", then the milliseconds as four digits.
    const int64_t ms = core_.clock().NowMillis();
    std::string t = Rfc3339(ms / 1000);
    std::string frac = std::to_string(ms % 1000);
    out.fields["t"] = t + std::string(4 - frac.size(), '0') + frac;
  }
  if (!otp_text.empty() && otp_text.size() <= 64) out.fields["otp"] = otp_text;
  if (!nonce.empty() && nonce.size() <= 64) out.fields["nonce"] = nonce;
  auto answer = [&](std::string status, std::string reason = {}) {
    out.fields["status"] = status;
    if (status != "OK") {
      AuditEntry a = MakeEntry(action, "ykval:" + id.substr(0, 20), "failure", reason.empty() ? status : reason);
      a.detail = {{"status", status}};
      core_.AuditRefusal(ctx, std::move(a));
    }
    return Plan<YkvalAnswer>::Now(out);
  };
  // Y07: the request's shape.
  auto request = otp::ParseYkvalRequest(params);
  if (!request) {
    out.fields.erase("nonce");
    return answer("MISSING_PARAMETER");
  }
  // The client, and when it may verify, the YubiKey's state: one read transaction.
  std::optional<Client> client;
  std::optional<YkvalRefusal> refusal;
  YubiState state;
  const auto parts = otp::SplitYubiOtp(otp_text);
  state.read_at = core_.store().CacheStamp();
  Status read = core_.store().Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(client, tx.FindClientByYkvalId(request->id));
    if (!client) return Ok();
    refusal = JudgeYkvalClient(*client, params, *request, source, out.key);
    if (!refusal && parts) AUTHD_RETURN_IF_ERROR(ReadYubiState(tx, parts->public_id, state));
    return Ok();
  });
  if (!read) return answer("BACKEND_ERROR");
  if (!client) return answer("NO_SUCH_CLIENT");
  if (refusal) return answer(refusal->status, refusal->reason);
  if (request->sl) out.fields["sl"] = "100";  // one store shared by every node: always fully synced

  bool replayed_request = false;
  auto checked = CheckYubiOtp(otp_text, nonce, ctx, action, client->client_id, &replayed_request, &state);
  if (!checked) {
    switch (checked.code()) {
      case ErrorCode::kOtpReplayed:
        out.fields["status"] = replayed_request ? "REPLAYED_REQUEST" : "REPLAYED_OTP";
        return Plan<YkvalAnswer>::Now(std::move(out));  // audited by CheckYubiOtp
      case ErrorCode::kStorageUnavailable:
      case ErrorCode::kInternal: out.fields["status"] = "BACKEND_ERROR"; return Plan<YkvalAnswer>::Now(std::move(out));
      default: out.fields["status"] = "BAD_OTP"; return Plan<YkvalAnswer>::Now(std::move(out));
    }
  }
  // The write and its answer may run on the store's writer thread: they own what they use.
  struct Success : PlanCall {
    YubiCheck check;
    YkvalAnswer out;
    std::string nonce, otp, client_id;
    bool timestamp = false;
  };
  std::string target = "yubikey:" + checked->cred.public_id;
  auto done = std::make_shared<Success>(Success{{std::move(target), core_.clock().NowSeconds(), ctx},
                                                std::move(*checked), std::move(out), nonce, otp_text,
                                                client->client_id, request->timestamp});
  Plan<YkvalAnswer> plan;
  plan.write = [this, done](WriteTx& tx) -> Status {
    const YubiCheck& k = done->check;
    AUTHD_RETURN_IF_ERROR(core_.StillInService(tx, k.read_at, k.user.id, k.cred.id));
    AUTHD_ASSIGN_OR_RETURN(bool advanced, tx.AdvanceYubiOtpCounters(k.cred.public_id, k.token.use_counter,
                                                                    k.token.session_counter, done->nonce, done->otp,
                                                                    done->now));
    if (!advanced) return Err(ErrorCode::kOtpReplayed, "this OTP was used already");
    AUTHD_RETURN_IF_ERROR(ClearFailuresRead(tx, k));
    AuditEntry a = MakeEntry("ykval.verify", done->target, "success", "");
    a.detail = {{"user", k.user.username}, {"credential", k.cred.id}, {"client", done->client_id}};
    return core_.audit().Append(tx, done->ctx, a);
  };
  plan.finish = [this, done](Status s) -> Result<YkvalAnswer> {
    YkvalAnswer& reply = done->out;
    if (!s) {
      Refuse(done->ctx, "ykval.verify", done->target, s.error());
      switch (s.code()) {
        case ErrorCode::kOtpReplayed: reply.fields["status"] = "REPLAYED_OTP"; break;
        // The key or its owner taken out of service after the check read them: as the check.
        case ErrorCode::kUserDisabled:
        case ErrorCode::kCredentialRevoked: reply.fields["status"] = "BAD_OTP"; break;
        default: reply.fields["status"] = "BACKEND_ERROR"; break;
      }
      return std::move(reply);
    }
    reply.fields["status"] = "OK";
    if (done->timestamp) {
      const auto& t = done->check.token;
      reply.fields["timestamp"] = std::to_string(t.timestamp);
      reply.fields["sessioncounter"] = std::to_string(t.use_counter);
      reply.fields["sessionuse"] = std::to_string(t.session_counter);
    }
    return std::move(reply);
  };
  return plan;
}

std::string OtpService::YkvalBody(const YkvalAnswer& answer) {
  const auto& fields = answer.fields;
  std::string body;
  body.reserve(320);
  auto line = [&](std::string_view k, std::string_view v) { body.append(k).append(1, '=').append(v).append("\r\n"); };
  // ykval's order: h and t first, then the rest; clients parse by key. The signature covers
  // every field but h.
  if (!answer.key.empty()) {
    line("h", otp::YkvalSignature(fields, answer.key));
  } else if (auto it = fields.find("h"); it != fields.end()) {
    line("h", it->second);
  }
  if (auto it = fields.find("t"); it != fields.end()) line("t", it->second);
  for (const auto& [k, v] : fields) {
    if (k != "h" && k != "t") line(k, v);
  }
  body.append("\r\n");
  return body;
}

// --- lockout -------------------------------------------------------------------------------

Result<int64_t> OtpService::Unlock(const AuditContext& ctx, std::string_view username) {
  int64_t cleared = 0;
  AUTHD_RETURN_IF_ERROR(core_.store().Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(User user, core_.LoadUser(tx, username));
    AUTHD_ASSIGN_OR_RETURN(cleared, tx.ClearFailuresOfUser(user.id));
    AuditEntry a = MakeEntry("user.unlock", "user:" + user.username, "success", "");
    a.attempt = false;
    a.detail = {{"counters_cleared", cleared}};
    return core_.audit().Append(tx, ctx, a);
  }));
  return cleared;
}

}  // namespace authd::domain
