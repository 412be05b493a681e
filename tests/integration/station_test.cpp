// The enrolment station end to end: authctl talks to a real authd over loopback HTTP and to the
// software key through libfido2's real code (soft:FILE behind its I/O hooks).

#include <sys/stat.h>

#include <ykdef.h>
#include <yubikey.h>

#include <gtest/gtest.h>

#include <cstring>

#include "authd/base/encoding.h"
#include "integration/harness.h"

namespace authd::testing {
namespace {

class Station : public ::testing::Test {
 protected:
  explicit Station(std::map<std::string, std::string> env = {}) : server_(std::move(env)) {}
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << server_.log();
    env_ = server_.env();
    env_["AUTHCTL_TOKEN_FILE"] = server_.dir().File("station/token");
    server_url_ = "http://127.0.0.1:" + std::to_string(server_.port());
  }
  // authctl with the station's environment; `stdin_text` is piped in when given.
  CommandResult Run(std::vector<std::string> args, const std::string& stdin_text = {}) {
    const bool station = args[0] == "enrol" || args[0] == "login" || args[0] == "verify";
    if (station) {
      args.push_back("--server");
      args.push_back(server_url_);
    }
    if (stdin_text.empty()) {
      std::vector<std::string> argv = {AUTHCTL_BIN};
      argv.insert(argv.end(), args.begin(), args.end());
      return RunCommand(argv, env_, server_.dir().path());
    }
    std::string cmd = "printf '%s\\n' '" + stdin_text + "' | " + std::string(AUTHCTL_BIN);
    for (const auto& a : args) cmd += " '" + a + "'";
    return RunCommand({"/bin/sh", "-c", cmd}, env_, server_.dir().path());
  }
  std::string Code(const std::string& user) {
    std::string c = Run({"enrollment-code", user}).out;
    if (!c.empty()) c.pop_back();
    return c;
  }

  AuthdProcess server_;
  std::map<std::string, std::string> env_;
  std::string server_url_;
};

TEST_F(Station, TheReadmeExampleWorks) {
  ASSERT_EQ(Run({"user", "add", "bob", "--role", "enroller"}).exit_code, 0);
  CommandResult enrol_bob = Run({"enrol", "bob", "--enrollment-code", Code("bob"), "--device", "soft:bob.key"});
  ASSERT_EQ(enrol_bob.exit_code, 0) << enrol_bob.err;
  EXPECT_NE(enrol_bob.out.find("Registered for bob"), std::string::npos);
  EXPECT_NE(enrol_bob.err.find("Touch your key now"), std::string::npos);

  CommandResult login = Run({"login", "bob", "--device", "soft:bob.key"});
  ASSERT_EQ(login.exit_code, 0) << login.err;
  // The token is kept 0600 and never printed.
  struct stat st {};
  ASSERT_EQ(stat(env_["AUTHCTL_TOKEN_FILE"].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(login.out.find("eyJ"), std::string::npos);

  ASSERT_EQ(Run({"user", "add", "alice"}).exit_code, 0);
  CommandResult enrol_alice = Run({"enrol", "alice", "--device", "soft:alice.key", "--nickname", "desk key"});
  ASSERT_EQ(enrol_alice.exit_code, 0) << enrol_alice.err;
  EXPECT_NE(enrol_alice.out.find("desk key"), std::string::npos);
  CommandResult verify = Run({"verify", "alice", "--device", "soft:alice.key"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("OK: alice signed in"), std::string::npos);

  // The server holds the credential, registered by bob (audited as him).
  CommandResult show = Run({"user", "show", "alice"});
  EXPECT_NE(show.out.find("desk key"), std::string::npos);
  CommandResult audit = Run({"audit", "tail", "-n", "50"});
  EXPECT_NE(audit.out.find("user:bob"), std::string::npos);
  // Bob's key is not Alice's.
  CommandResult wrong_key = Run({"verify", "alice", "--device", "soft:bob.key"});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.err.find("enrol it first"), std::string::npos) << wrong_key.err;
}

TEST_F(Station, U2fOnlyKeysEnrolWithFidoU2fAttestationAndSignIn) {
  ASSERT_EQ(Run({"user", "add", "erin"}).exit_code, 0);
  CommandResult enrol = Run({"enrol", "erin", "--enrollment-code", Code("erin"), "--device", "soft-u2f:erin.key"});
  ASSERT_EQ(enrol.exit_code, 0) << enrol.err;
  EXPECT_NE(enrol.out.find("fido-u2f / basic"), std::string::npos) << enrol.out;
  CommandResult devices = Run({"devices", "--device", "soft:erin.key"});
  EXPECT_NE(devices.out.find("U2F only (CTAP1)"), std::string::npos) << devices.out;
  CommandResult verify = Run({"verify", "erin", "--device", "soft:erin.key"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
}

TEST_F(Station, EnrolmentNeedsAnEnrollerSignInOrACode) {
  ASSERT_EQ(Run({"user", "add", "alice"}).exit_code, 0);
  CommandResult none = Run({"enrol", "alice", "--device", "soft:alice.key"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("authctl login"), std::string::npos) << none.err;
  CommandResult bad_code = Run({"enrol", "alice", "--enrollment-code", "AAAA-BBBB", "--device", "soft:alice.key"});
  EXPECT_EQ(bad_code.exit_code, 1);
  EXPECT_NE(bad_code.err.find("invalid_enrollment_code"), std::string::npos) << bad_code.err;
  // A plain user signed in at the station cannot enrol keys for others.
  ASSERT_EQ(Run({"user", "add", "carol"}).exit_code, 0);
  ASSERT_EQ(Run({"enrol", "carol", "--enrollment-code", Code("carol"), "--device", "soft:carol.key"}).exit_code, 0);
  ASSERT_EQ(Run({"login", "carol", "--device", "soft:carol.key"}).exit_code, 0);
  CommandResult forbidden = Run({"enrol", "alice", "--device", "soft:alice.key"});
  EXPECT_EQ(forbidden.exit_code, 1);
  EXPECT_NE(forbidden.err.find("forbidden"), std::string::npos) << forbidden.err;
  // The same key twice for one user is refused by the key itself (excludeCredentials).
  ASSERT_EQ(Run({"enrol", "alice", "--enrollment-code", Code("alice"), "--device", "soft:alice.key"}).exit_code, 0);
  CommandResult twice = Run({"enrol", "alice", "--enrollment-code", Code("alice"), "--device", "soft:alice.key"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("already registered"), std::string::npos) << twice.err;
}

TEST_F(Station, KeysWithAPinAskForItAndProveTheUser) {
  ASSERT_EQ(Run({"user", "add", "dave"}).exit_code, 0);
  ASSERT_EQ(Run({"set-pin", "--device", "soft:dave.key"}, "4321").exit_code, 0);
  CommandResult devices = Run({"devices", "--device", "soft:dave.key"});
  EXPECT_NE(devices.out.find("set, 8 tries left"), std::string::npos) << devices.out;
  // No PIN given: a clear refusal before the key is even asked.
  CommandResult no_pin = Run({"enrol", "dave", "--enrollment-code", Code("dave"), "--device", "soft:dave.key"});
  EXPECT_EQ(no_pin.exit_code, 1);
  EXPECT_NE(no_pin.err.find("PIN"), std::string::npos) << no_pin.err;
  CommandResult enrol = Run({"enrol", "dave", "--enrollment-code", Code("dave"), "--device", "soft:dave.key"}, "4321");
  ASSERT_EQ(enrol.exit_code, 0) << enrol.err;
  CommandResult wrong = Run({"verify", "dave", "--device", "soft:dave.key"}, "0000");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("PIN is wrong"), std::string::npos) << wrong.err;
  EXPECT_NE(Run({"devices", "--device", "soft:dave.key"}).out.find("7 tries left"), std::string::npos);
  CommandResult ok = Run({"verify", "dave", "--device", "soft:dave.key"}, "4321");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("hwk, pin"), std::string::npos) << ok.out;
}

// The OTP the simulated YubiKey in `file` types for slot 1 at its `press`-th touch: the recorded
// fixed part, then a token under the recorded AES key and private id (libyubikey).
std::string Touch(const std::string& file, uint8_t press) {
  Json state = ParseJsonStrict(ReadFile(file)).value();
  Bytes wire = *HexDecode(state["slots"]["1"]["config"].get<std::string>());
  config_st cfg;
  std::memcpy(&cfg, wire.data(), sizeof cfg);
  yubikey_token_st tok{};
  std::memcpy(tok.uid, cfg.uid, 6);
  tok.ctr = 1;
  tok.use = press;
  tok.crc = static_cast<uint16_t>(~yubikey_crc16(reinterpret_cast<uint8_t*>(&tok), 14));
  char otp[33] = {}, fixed[33] = {};
  yubikey_generate(&tok, cfg.key, otp);
  yubikey_modhex_encode(fixed, reinterpret_cast<const char*>(cfg.fixed), cfg.fixedSize);
  return std::string(fixed) + otp;
}

TEST_F(Station, YubikeyProgramRegistersTheKeyAndItsOtpsLogIn) {
  ASSERT_EQ(Run({"user", "add", "bob", "--role", "enroller"}).exit_code, 0);
  ASSERT_EQ(Run({"enrol", "bob", "--enrollment-code", Code("bob"), "--device", "soft:bob.key"}).exit_code, 0);
  ASSERT_EQ(Run({"user", "add", "alice"}).exit_code, 0);
  // Without a station sign-in nothing is programmed.
  CommandResult anonymous = Run({"yubikey", "program", "alice", "--slot", "1", "--device", "soft:yk.json", "--server",
                                 server_url_});
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_NE(anonymous.err.find("authctl login"), std::string::npos);
  ASSERT_EQ(Run({"login", "bob", "--device", "soft:bob.key"}).exit_code, 0);
  CommandResult prog = Run({"yubikey", "program", "alice", "--slot", "1", "--device", "soft:yk.json", "--server",
                            server_url_});
  ASSERT_EQ(prog.exit_code, 0) << prog.err;
  EXPECT_NE(prog.out.find("Registered YubiKey vvcc"), std::string::npos) << prog.out;
  EXPECT_NE(prog.err.find("Do not remove the key"), std::string::npos);

  const std::string file = server_.dir().File("yk.json");
  HttpResult ok = server_.PostJson("/v1/yubiotp/verify", {{"otp", Touch(file, 0)}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json()["user"]["username"], "alice");
  EXPECT_EQ(server_.PostJson("/v1/yubiotp/verify", {{"otp", Touch(file, 0)}}).json()["code"], "otp_replayed");
  EXPECT_EQ(server_.PostJson("/v1/yubiotp/verify", {{"otp", Touch(file, 1)}}).status, 200);

  // The slot is taken now: reprogramming needs --force, and then the key is registered anew
  // under the same public id, replacing its old registration (whose secret the key no longer has).
  CommandResult again = Run({"yubikey", "program", "alice", "--slot", "1", "--device", "soft:yk.json", "--server",
                             server_url_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  const std::string before_otp = Touch(file, 2);
  CommandResult forced = Run({"yubikey", "program", "alice", "--slot", "1", "--force", "--device", "soft:yk.json",
                              "--server", server_url_});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("Registered YubiKey vvcc"), std::string::npos) << forced.out;
  EXPECT_EQ(server_.PostJson("/v1/yubiotp/verify", {{"otp", before_otp}}).json()["code"], "otp_invalid");
  HttpResult after = server_.PostJson("/v1/yubiotp/verify", {{"otp", Touch(file, 0)}});
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_NE(after.json()["credential_id"], ok.json()["credential_id"]);
  // The same key for another user: the public id is alice's live one, so authd refuses, and says so.
  ASSERT_EQ(Run({"user", "add", "carol"}).exit_code, 0);
  CommandResult taken = Run({"yubikey", "program", "carol", "--slot", "1", "--force", "--device", "soft:yk.json",
                             "--server", server_url_});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("another user"), std::string::npos) << taken.err;
  // Challenge-response programs slot 2 without registering anything.
  CommandResult cr = Run({"yubikey", "program", "alice", "--slot", "2", "--challenge-response", "--device",
                          "soft:yk.json", "--server", server_url_});
  ASSERT_EQ(cr.exit_code, 0) << cr.err;
  EXPECT_NE(cr.out.find("HMAC-SHA1"), std::string::npos);
}

class StrictStation : public Station {
 protected:
  StrictStation() : Station({{"AUTHD_ATTESTATION", "attested"}}) {}
};

TEST_F(StrictStation, AttestationPolicyRefusesTheSoftwareKeyLikeAnyUnattestedKey) {
  ASSERT_EQ(Run({"user", "add", "alice"}).exit_code, 0);
  CommandResult soft = Run({"enrol", "alice", "--enrollment-code", Code("alice"), "--device", "soft:alice.key"});
  EXPECT_EQ(soft.exit_code, 1);
  EXPECT_NE(soft.err.find("attestation_untrusted"), std::string::npos) << soft.err;
  EXPECT_EQ(Run({"user", "show", "alice"}).out.find("\"type\":\"webauthn\""), std::string::npos);
}

TEST(StationTls, EnrolsAndVerifiesOverHttps) {
  TempDir certs;
  CommandResult gen = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                  "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                  "-addext", "subjectAltName=DNS:localhost", "-keyout", certs.File("key.pem"),
                                  "-out", certs.File("cert.pem")},
                                 {}, certs.path());
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  AuthdProcess server(std::map<std::string, std::string>{{"AUTHD_TLS_CERT", certs.File("cert.pem")},
                                                         {"AUTHD_TLS_KEY", certs.File("key.pem")}});
  ASSERT_TRUE(server.Start()) << server.log();
  ASSERT_EQ(server.Authctl({"user", "add", "alice"}).exit_code, 0);
  std::string code = server.Authctl({"enrollment-code", "alice"}).out;
  code.pop_back();
  const std::string url = "https://localhost:" + std::to_string(server.port());
  // Without the CA the station refuses the server's certificate, and says what to do.
  CommandResult untrusted = server.Authctl({"enrol", "alice", "--enrollment-code", code, "--device", "soft:a.key",
                                            "--server", url});
  EXPECT_EQ(untrusted.exit_code, 1);
  EXPECT_NE(untrusted.err.find("--cacert"), std::string::npos) << untrusted.err;
  CommandResult enrol = server.Authctl({"enrol", "alice", "--enrollment-code", code, "--device", "soft:a.key",
                                        "--server", url, "--cacert", certs.File("cert.pem")});
  ASSERT_EQ(enrol.exit_code, 0) << enrol.err;
  CommandResult verify = server.Authctl({"verify", "alice", "--device", "soft:a.key", "--server", url, "--cacert",
                                         certs.File("cert.pem")});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

TEST_F(Station, ClearSentencesWhenThingsAreMissing) {
  CommandResult no_server = RunCommand({AUTHCTL_BIN, "verify", "alice", "--device", "soft:x.key", "--server",
                                        "http://127.0.0.1:1"},
                                       env_, server_.dir().path());
  EXPECT_EQ(no_server.exit_code, 1);
  EXPECT_NE(no_server.err.find("could not reach authd"), std::string::npos) << no_server.err;
  CommandResult bad_device = Run({"devices", "--device", "soft:"});
  EXPECT_EQ(bad_device.exit_code, 1);
  EXPECT_NE(bad_device.err.find("soft: needs a file"), std::string::npos) << bad_device.err;
  CommandResult usage = Run({"enrol"});
  EXPECT_EQ(usage.exit_code, 2);
}

}  // namespace
}  // namespace authd::testing
