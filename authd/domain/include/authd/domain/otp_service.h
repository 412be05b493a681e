// The one-time-password factors: TOTP enrolment and verification, YubiKey OTP registration and
// verification, the Yubico validation protocol 2.0, and the failure counters that bound guessing
// (SECURITY.md §1.4, §1.5, P8). Every attempt is audited; counters live in the store, so they
// survive restarts and are shared by every node. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "authd/domain/core.h"
#include "authd/domain/plan.h"
#include "authd/domain/keyring.h"
#include "authd/domain/otp.h"

namespace authd::domain {

struct OtpOptions {
  std::string issuer = "authd";        // the otpauth:// issuer label
  otp::TotpParams totp;                // defaults for new TOTP credentials
  int totp_window = 1;                 // steps accepted either side of now
  int64_t enrollment_ttl = 600;        // seconds to scan the QR code and confirm
  // Lockout (RFC 4226 §7.3): from the `delay_after`-th consecutive failure, each further attempt
  // waits (failures - delay_after + 1) * delay_seconds; at `max_failures` the account (or key)
  // stays locked until an admin unlocks it. Locked and wrong answer alike.
  int64_t delay_after = 3;
  int64_t delay_seconds = 5;
  int64_t max_failures = 10;
  bool ykval_require_signature = true;  // Y08: refuse unsigned requests
};

struct TotpEnrollmentRequest {
  std::string username;
  std::string enrollment_code;
  std::string algorithm;  // empty: the default
  int64_t digits = 0;     // 0: the default
  int64_t period = 0;
};

struct TotpEnrollmentStarted {
  std::string handle;  // "enrollment" in API.md
  std::string secret;  // base32, unpadded
  std::string otpauth_uri;
  otp::TotpParams params;
  int64_t expires_at = 0;
};

struct YubiOtpRegistration {
  std::string public_id;   // modhex
  std::string private_id;  // 12 hex digits
  std::string aes_key;     // 32 hex digits
  std::string nickname;
  // The key was reprogrammed: a live registration of the same public id for the same user is
  // revoked in the same transaction (with its tokens). Another user's live registration still
  // refuses.
  bool replace = false;
};

// The Yubico protocol's answer: status word and the pairs to sign and send.
struct YkvalAnswer {
  std::map<std::string, std::string> fields;  // otp, nonce, status, t, ... (h added by Sign)
  Bytes key;                                  // the client's HMAC key; empty when unknown
};

class OtpService {
 public:
  OtpService(Core& core, const Keyring& keyring, OtpOptions options);

  // --- TOTP ---
  // Authorised like WebAuthn registration: the user's own token, an enroller's, or an enrolment
  // code (consumed only when the enrolment is confirmed).
  Result<TotpEnrollmentStarted> StartTotpEnrollment(const std::optional<Principal>& who,
                                                    const TotpEnrollmentRequest& req, const AuditContext& ctx);
  // The secret becomes usable only here, with a valid code.
  Result<Credential> ConfirmTotpEnrollment(std::string_view handle, std::string_view code, const AuditContext& ctx);
  Result<IssuedToken> VerifyTotp(std::string_view username, std::string_view code, std::string_view client_id,
                                 const AuditContext& ctx);
  // VerifyTotp up to its write: refusals come back as errors, a match as the write that records
  // it and the token that follows (plan.h).
  Result<Plan<IssuedToken>> PlanVerifyTotp(std::string_view username, std::string_view code,
                                           std::string_view client_id, const AuditContext& ctx);

  // --- YubiKey OTP ---
  Result<Credential> RegisterYubiOtp(const AuditContext& ctx, std::string_view username, const YubiOtpRegistration& req);
  Result<IssuedToken> VerifyYubiOtp(std::string_view otp, std::string_view client_id, const AuditContext& ctx);
  Result<Plan<IssuedToken>> PlanVerifyYubiOtp(std::string_view otp, std::string_view client_id, const AuditContext& ctx);
  // GET /wsapi/2.0/verify: `params` as decoded from the query string, `source` the caller's address.
  YkvalAnswer Ykval(const std::map<std::string, std::string>& params, std::string_view source,
                    const AuditContext& ctx);
  // Ykval up to its write; its finish never fails (every outcome is a status word).
  Plan<YkvalAnswer> PlanYkval(const std::map<std::string, std::string>& params, std::string_view source,
                              const AuditContext& ctx);
  // The response body: the fields plus h, one key=value per line (CRLF), as ykval sends it.
  static std::string YkvalBody(const YkvalAnswer& answer);

  // --- lockout ---
  // Clears every failure counter of the user and the user's keys; returns how many it cleared.
  Result<int64_t> Unlock(const AuditContext& ctx, std::string_view username);
  // Seconds until `subject` may try again (0: now); exposed for the admin view and tests.
  Result<int64_t> LockedFor(std::string_view subject);

 private:
  struct YubiCheck;
  struct YubiState;
  // What a YubiKey OTP's check reads of the store, in the caller's read transaction.
  static Status ReadYubiState(ReadTx& tx, std::string_view public_id, YubiState& out);
  // `replayed_request` (ykval only) is set when the refusal is the very request answered before.
  // `state`: what ReadYubiState read for the OTP's public id already (else it is read here).
  Result<YubiCheck> CheckYubiOtp(std::string_view otp, std::string_view nonce, const AuditContext& ctx,
                                 const std::string& action, std::string_view client_id,
                                 bool* replayed_request = nullptr, YubiState* state = nullptr);
  static Status ClearFailuresRead(WriteTx& tx, const YubiCheck& check);
  // Why a ykval client may not verify this request (its status and the audited reason), or
  // nullopt when it may; `key` gets the client's opened key, which signs the answer.
  struct YkvalRefusal {
    const char* status;
    const char* reason;
  };
  std::optional<YkvalRefusal> JudgeYkvalClient(const Client& client, const std::map<std::string, std::string>& params,
                                               const otp::YkvalRequest& request, std::string_view source,
                                               Bytes& key) const;
  Result<otp::TotpParams> ParamsFor(const TotpEnrollmentRequest& req) const;
  int64_t LockUntil(int64_t failures, int64_t now) const;
  Status RecordFailure(WriteTx& tx, std::string_view subject, std::string_view user_id, int64_t now) const;
  void Refuse(const AuditContext& ctx, const std::string& action, const std::string& target, const Error& error,
              Json detail = Json::object());
  Result<Client> CheckClientId(std::string_view client_id);

  Core& core_;
  const Keyring& keyring_;
  OtpOptions options_;
};

}  // namespace authd::domain
