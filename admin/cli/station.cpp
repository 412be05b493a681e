// The enrolment station: authctl devices | enrol | login | verify. The station is the WebAuthn
// client: it asks authd for ceremony options over HTTP(S), runs them on the key through libfido2
// (drivers/), and sends the result back. It never opens the store.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "authd/base/encoding.h"
#include "authd/base/files.h"
#include "authd/drivers/fido_device.h"
#include "authd/drivers/yubikey.h"
#include "cli.h"

namespace authctl {
namespace {

using authd::Json;

struct Station {
  std::string server;      // base URL of authd
  std::string origin;      // the WebAuthn origin the station claims
  std::string device;      // HID path or soft:FILE; empty: the only attached key
  std::string token_file;  // where `login` keeps the enroller's token
  int touch_timeout = 30;  // seconds the key waits for a touch
  std::string cacert;      // PEM file of the CA that issued authd's certificate (default: the system's)
};

std::string DefaultTokenFile() {
  if (const char* f = std::getenv("AUTHCTL_TOKEN_FILE"); f && *f) return f;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/authd/station-token";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/authd/station-token";
  return ".authd-station-token";
}

// The station's defaults come from the same configuration as the server's: its listen address
// and its first allowed origin.
void Defaults(Context& ctx, Station& s) {
  auto config = authd::runtime::LoadConfig(ctx.config_file, authd::runtime::ProcessEnvironment());
  if (!config) throw Failure{config.error().detail};
  if (s.server.empty()) {
    std::string host = config->listen_host == "0.0.0.0" || config->listen_host == "::" ? "127.0.0.1" : config->listen_host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    s.server = std::string(config->tls() ? "https://" : "http://") + host + ":" + std::to_string(config->listen_port);
  }
  if (s.origin.empty()) s.origin = config->origins.empty() ? s.server : config->origins.front();
  if (s.token_file.empty()) s.token_file = DefaultTokenFile();
  while (!s.server.empty() && s.server.back() == '/') s.server.pop_back();
}

struct HttpAnswer {
  int status = 0;
  Json body;
};

HttpAnswer Post(const Station& s, const std::string& path, const Json& body, const std::string& bearer = {}) {
  try {
    Poco::URI uri(s.server + path);
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (uri.getScheme() == "https") {
      // The server's certificate must chain to the system's CAs, or to --cacert, and name the host.
      Poco::Net::Context::Ptr tls = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", s.cacert,
                                                           Poco::Net::Context::VERIFY_RELAXED, 9, s.cacert.empty());
      session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), tls);
    } else if (uri.getScheme() == "http") {
      session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    } else {
      throw Failure{"--server must be an http:// or https:// URL, not " + s.server};
    }
    session->setTimeout(Poco::Timespan(30, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathAndQuery(), Poco::Net::HTTPMessage::HTTP_1_1);
    const std::string text = authd::DumpJson(body);
    req.setContentType("application/json");
    req.setContentLength(static_cast<std::streamsize>(text.size()));
    if (!bearer.empty()) req.set("Authorization", "Bearer " + bearer);
    session->sendRequest(req) << text;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    std::string out;
    Poco::StreamCopier::copyToString(in, out);
    HttpAnswer a;
    a.status = static_cast<int>(resp.getStatus());
    auto parsed = authd::ParseJsonStrict(out, authd::JsonLimits{.max_bytes = 1 << 20});
    a.body = parsed ? std::move(*parsed) : Json::object();
    return a;
  } catch (const Poco::Net::SSLException& e) {
    throw Failure{"could not set up HTTPS with " + s.server + " (" + e.displayText() +
                  "); if authd's certificate comes from your own CA, pass it with --cacert FILE"};
  } catch (const Poco::Exception& e) {
    throw Failure{"could not reach authd at " + s.server + " (" + e.displayText() +
                  "); is it running? Point the station at it with --server URL"};
  }
}

// authd's problem detail as the reason, with a hint where one helps.
[[noreturn]] void Refused(const HttpAnswer& a, const std::string& what) {
  const std::string code = a.body.value("code", "");
  std::string detail = a.body.value("detail", a.body.value("title", "HTTP " + std::to_string(a.status)));
  if (code == "invalid_token") detail += "; sign in at the station first: authctl login YOUR-USERNAME";
  if (code == "origin_mismatch") detail += "; pass the origin authd allows with --origin";
  throw Failure{what + ": " + detail + (code.empty() ? "" : " (" + code + ")")};
}

std::unique_ptr<authd::drivers::FidoDevice> OpenDevice(const Station& s) {
  auto dev = Check(s.device.empty() ? authd::drivers::FidoDevice::OpenOnly() : authd::drivers::FidoDevice::Open(s.device));
  dev->SetTimeout(s.touch_timeout);
  return dev;
}

// A secret typed on the terminal without echo, or one line of stdin when the station is scripted.
std::string ReadSecret(const std::string& prompt) {
  std::string value;
  const int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (isatty(STDIN_FILENO) && tty >= 0) {
    (void)!write(tty, prompt.data(), prompt.size());
    termios old {};
    tcgetattr(tty, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(tty, TCSAFLUSH, &quiet);
    char c;
    while (read(tty, &c, 1) == 1 && c != '\n' && value.size() < 128) value.push_back(c);
    tcsetattr(tty, TCSAFLUSH, &old);
    (void)!write(tty, "\n", 1);
  } else {
    std::getline(std::cin, value);
  }
  if (tty >= 0) close(tty);
  return value;
}

// The PIN, when the key has one: typed on the terminal without echo, or one line on stdin
// when the station is scripted.
std::optional<std::string> AskPin(authd::drivers::FidoDevice& dev) {
  auto info = dev.Info();
  if (!info || !info->pin_set) return std::nullopt;
  if (info->pin_retries && *info->pin_retries == 0) {
    throw Failure{"the key is blocked after too many wrong PINs; it must be reset (which deletes its credentials)"};
  }
  std::string prompt = "Enter the key's PIN";
  if (info->pin_retries) prompt += " (" + std::to_string(*info->pin_retries) + " tries left)";
  const std::string pin = ReadSecret(prompt + ": ");
  if (pin.empty()) throw Failure{"the key has a PIN and none was given; type it when asked, or pipe it on stdin"};
  return pin;
}

// Ctrl-C while the key waits: the spinner thread sees the flag and cancels the request, so the
// key stops waiting too (libfido2's fido_dev_cancel), and the command ends with a sentence.
std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted = true; }

// "Touch your key now", with a spinner on a terminal until the key answers.
class TouchSpinner {
 public:
  explicit TouchSpinner(authd::drivers::FidoDevice* dev = nullptr) : dev_(dev) {
    g_interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigaction(SIGINT, &sa, &old_);
  }
  void Start() {
    const bool tty = isatty(STDERR_FILENO);
    if (!tty) std::fprintf(stderr, "Touch your key now.\n");
    running_ = true;
    thread_ = std::thread([this, tty] {
      const char* frames = "|/-\\";
      for (int i = 0; running_; ++i) {
        if (g_interrupted.exchange(false) && dev_) {
          dev_->Cancel();
          if (tty) std::fprintf(stderr, "\rCancelling...          \n");
        }
        if (tty) {
          std::fprintf(stderr, "\rTouch your key now %c ", frames[i % 4]);
          std::fflush(stderr);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
      }
      if (tty) std::fprintf(stderr, "\r                      \r");
    });
  }
  ~TouchSpinner() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    sigaction(SIGINT, &old_, nullptr);
  }

 private:
  authd::drivers::FidoDevice* dev_;
  struct sigaction old_ {};
  std::atomic<bool> running_{false};
  std::thread thread_;
};

std::string ReadToken(const Station& s) {
  auto text = authd::ReadWholeFile(s.token_file);
  if (!text || text->empty()) {
    throw Failure{"no station sign-in found at " + s.token_file +
                  "; an enroller signs in first with `authctl login USERNAME --device ...`, or pass "
                  "--enrollment-code"};
  }
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

void SaveToken(const Station& s, const std::string& token) {
  const auto slash = s.token_file.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = s.token_file.substr(0, slash);
    // mkdir -p with 0700 folders
    for (size_t p = 1; p <= dir.size(); ++p) {
      if (p == dir.size() || dir[p] == '/') (void)mkdir(dir.substr(0, p).c_str(), 0700);
    }
  }
  Check(authd::WriteFileDurably(s.token_file, authd::AsBytes(token + "\n")));
}

// Runs an authentication ceremony for `username` on the key; returns the token response.
Json SignIn(const Station& s, const std::string& username) {
  HttpAnswer opts = Post(s, "/v1/webauthn/authentication/options", {{"username", username}});
  if (opts.status != 200) Refused(opts, "authd refused to start the sign-in");
  auto dev = OpenDevice(s);
  auto pin = AskPin(*dev);
  TouchSpinner spinner(dev.get());
  auto out = Check(dev->GetAssertion(opts.body["publicKey"], s.origin, pin, [&] { spinner.Start(); }));
  HttpAnswer done = Post(s, "/v1/webauthn/authentication/verify",
                         {{"ceremony", opts.body["ceremony"]}, {"credential", out.credential}});
  if (done.status != 200) Refused(done, "authd refused the sign-in");
  return done.body;
}

void AddStationOptions(CLI::App* cmd, Station& s) {
  cmd->add_option("--device", s.device, "key to use: a path from `authctl devices`, or soft:FILE (software key)");
  cmd->add_option("--server", s.server, "authd's URL (default: the configured listen address)");
  cmd->add_option("--origin", s.origin, "WebAuthn origin to claim (default: the first configured origin)");
  cmd->add_option("--cacert", s.cacert, "PEM file of the CA that issued authd's HTTPS certificate");
  cmd->add_option("--timeout", s.touch_timeout, "seconds to wait for the touch (default 30)")->check(CLI::Range(1, 600));
  cmd->add_option("--token-file", s.token_file, "where `login` keeps the station's token (default: "
                                                "$AUTHCTL_TOKEN_FILE or ~/.config/authd/station-token)");
}

}  // namespace

void RegisterStationCommands(CLI::App& app, Context& ctx) {
  {
    auto* cmd = app.add_subcommand("devices", "list the attached security keys");
    auto device = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("--device", *device, "describe this key only (a path, or soft:FILE)");
    cmd->add_flag("--json", *json, "one JSON object per key");
    cmd->callback([device, json] {
      std::vector<authd::drivers::DeviceInfo> keys;
      if (!device->empty()) {
        auto dev = Check(authd::drivers::FidoDevice::Open(*device));
        keys.push_back(Check(dev->Info()));
      } else {
        keys = Check(authd::drivers::ListDevices());
      }
      if (keys.empty()) {
        std::printf("No security keys are attached. Plug one in (its LED lights up), or try a software key\n"
                    "with --device soft:FILE.\n");
        return;
      }
      for (const auto& k : keys) {
        Json algs = Json::array();
        for (int64_t a : k.algorithms) algs.push_back(a);
        if (*json) {
          PrintJson({{"path", k.path}, {"manufacturer", k.manufacturer}, {"product", k.product},
                     {"fido2", k.fido2}, {"aaguid", k.aaguid}, {"firmware", k.firmware}, {"versions", k.versions},
                     {"options", k.options}, {"algorithms", algs}, {"pin_set", k.pin_set},
                     {"pin_retries", k.pin_retries ? Json(*k.pin_retries) : Json()}});
          continue;
        }
        std::printf("%s\n", k.path.c_str());
        std::printf("  product     %s %s\n", k.manufacturer.c_str(), k.product.c_str());
        std::printf("  protocol    %s\n", k.fido2 ? "FIDO2 (CTAP2)" : "U2F only (CTAP1)");
        if (!k.aaguid.empty()) std::printf("  aaguid      %s\n", k.aaguid.c_str());
        std::printf("  firmware    %s\n", k.firmware.c_str());
        std::string versions, options, al;
        for (const auto& v : k.versions) versions += (versions.empty() ? "" : ", ") + v;
        for (const auto& o : k.options) options += (options.empty() ? "" : ", ") + o;
        for (int64_t a : k.algorithms) al += (al.empty() ? "" : ", ") + std::to_string(a);
        std::printf("  versions    %s\n", versions.c_str());
        if (!options.empty()) std::printf("  options     %s\n", options.c_str());
        if (!al.empty()) std::printf("  algorithms  %s\n", al.c_str());
        std::printf("  PIN         %s\n", !k.pin_set ? "not set"
                                                    : ("set, " + std::to_string(k.pin_retries.value_or(-1)) + " tries left").c_str());
      }
    });
  }
  {
    auto* cmd = app.add_subcommand("set-pin", "give a key without a PIN its first PIN (typed twice, or one line on stdin)");
    auto device = std::make_shared<std::string>();
    cmd->add_option("--device", *device, "key to use: a path from `authctl devices`, or soft:FILE");
    cmd->callback([device] {
      Station s;
      s.device = *device;
      auto dev = OpenDevice(s);
      if (dev->pin_set()) throw Failure{"this key has a PIN already; change it with the key maker's tool"};
      const std::string pin = ReadSecret("New PIN (4 to 63 characters): ");
      if (isatty(STDIN_FILENO) && ReadSecret("The same PIN again: ") != pin) {
        throw Failure{"the two PINs differ; nothing was changed"};
      }
      if (pin.size() < 4 || pin.size() > 63) throw Failure{"a PIN has 4 to 63 characters; nothing was changed"};
      Check(dev->SetPin(pin));
      std::printf("The key's PIN is set. It will be asked for at every enrolment and sign-in.\n");
    });
  }
  {
    auto* cmd = app.add_subcommand("enrol", "register the attached key for USERNAME at authd");
    cmd->alias("enroll");
    auto s = std::make_shared<Station>();
    auto username = std::make_shared<std::string>();
    auto code = std::make_shared<std::string>();
    auto nickname = std::make_shared<std::string>();
    auto resident = std::make_shared<bool>(false);
    cmd->add_option("USERNAME", *username)->required();
    cmd->add_option("--enrollment-code", *code, "a code from `authctl enrollment-code` (no enroller sign-in needed)");
    cmd->add_option("--nickname", *nickname, "a name for the key, e.g. \"blue key\"");
    cmd->add_flag("--resident", *resident, "store the credential on the key (sign in without a username)");
    AddStationOptions(cmd, *s);
    cmd->callback([&ctx, s, username, code, nickname, resident] {
      Defaults(ctx, *s);
      const std::string bearer = code->empty() ? ReadToken(*s) : std::string();
      Json req = {{"username", *username}, {"resident_key", *resident ? "required" : "discouraged"},
                  {"user_verification", "preferred"}};
      if (!code->empty()) req["enrollment_code"] = *code;
      HttpAnswer opts = Post(*s, "/v1/webauthn/registration/options", req, bearer);
      if (opts.status != 200) Refused(opts, "authd refused to start the enrolment");
      auto dev = OpenDevice(*s);
      auto pin = AskPin(*dev);
      TouchSpinner spinner(dev.get());
      auto out = Check(dev->MakeCredential(opts.body["publicKey"], s->origin, pin, [&] { spinner.Start(); }));
      HttpAnswer done = Post(*s, "/v1/webauthn/registration/verify",
                             {{"ceremony", opts.body["ceremony"]}, {"credential", out.credential},
                              {"nickname", nickname->empty() ? "security key" : *nickname}},
                             bearer);
      if (done.status != 201 && done.status != 200) Refused(done, "authd refused the key");
      const Json& c = done.body["credential"];
      std::printf("Registered for %s: %s\n", username->c_str(), c.value("nickname", "").c_str());
      std::printf("  credential  %s\n", c.value("id", "").c_str());
      std::printf("  model       %s\n", c.value("aaguid", "").c_str());
      std::printf("  attestation %s / %s\n", c.value("fmt", "").c_str(), c.value("attestation_type", "").c_str());
      std::printf("  resident    %s\n", c.value("discoverable", false) ? "yes" : "no");
    });
  }
  {
    auto* yk = app.add_subcommand("yubikey", "program YubiKey OTP slots at the station");
    yk->require_subcommand(1);
    auto* cmd = yk->add_subcommand("program", "program a slot with Yubico OTP and register the key for USERNAME");
    auto s = std::make_shared<Station>();
    auto username = std::make_shared<std::string>();
    auto slot = std::make_shared<int>(1);
    auto force = std::make_shared<bool>(false);
    auto chalresp = std::make_shared<bool>(false);
    auto access = std::make_shared<std::string>();
    auto protect = std::make_shared<std::string>();
    auto random_id = std::make_shared<bool>(false);
    cmd->add_option("USERNAME", *username)->required();
    cmd->add_option("--slot", *slot, "1 (short touch) or 2 (long touch)")->check(CLI::IsMember({1, 2}));
    cmd->add_flag("--force", *force, "overwrite a configured slot (its old secret stops working)");
    cmd->add_flag("--challenge-response", *chalresp,
                  "program HMAC-SHA1 challenge-response instead (for offline use; nothing is registered at authd)");
    cmd->add_option("--access-code", *access, "the slot's current access code, 12 hex digits, if it is protected");
    cmd->add_option("--protect", *protect, "protect the slot with this new access code (12 hex digits)");
    cmd->add_flag("--random-public-id", *random_id, "a random public id instead of one made from the serial");
    cmd->add_option("--device", s->device, "soft:FILE for a simulated YubiKey (default: the attached YubiKey)");
    cmd->add_option("--server", s->server, "authd's URL (default: the configured listen address)");
    cmd->add_option("--token-file", s->token_file, "the station's sign-in (see `authctl login`)");
    cmd->add_option("--cacert", s->cacert, "PEM file of the CA that issued authd's HTTPS certificate");
    cmd->callback([&ctx, s, username, slot, force, chalresp, access, protect, random_id] {
      Defaults(ctx, *s);
      authd::drivers::ProgramOptions o;
      o.slot = *slot;
      o.force = *force;
      o.public_id_from_serial = !*random_id;
      auto hex6 = [](const std::string& h, const char* what) {
        auto b = authd::HexDecode(h);
        if (!b || b->size() != 6) throw Failure{std::string(what) + " must be 12 hex digits"};
        return *b;
      };
      if (!access->empty()) o.access_code = hex6(*access, "--access-code");
      if (!protect->empty()) o.new_access_code = hex6(*protect, "--protect");
      // The station's sign-in is checked before the key is touched.
      const std::string bearer = *chalresp ? std::string() : ReadToken(*s);
      auto key = Check(authd::drivers::OpenYubiKey(s->device));
      auto status = Check(key->ReadStatus());
      std::fprintf(stderr, "YubiKey %u, firmware %s: programming slot %d. Do not remove the key.\n", status.serial,
                   status.Firmware().c_str(), *slot);
      if (*chalresp) {
        auto secret = Check(authd::drivers::ProgramChallengeResponse(*key, o));
        std::printf("Slot %d now answers HMAC-SHA1 challenges. Its secret, shown once (keep it only where it is "
                    "needed):\n%s\n", *slot, authd::HexEncode(secret.view()).c_str());
        return;
      }
      auto secrets = Check(authd::drivers::ProgramYubicoOtp(*key, o));
      std::string aes = authd::HexEncode(secrets.aes_key.view());
      std::string uid = authd::HexEncode(secrets.private_id);
      HttpAnswer reg = Post(*s, "/v1/admin/users/" + *username + "/yubiotp",
                            {{"public_id", secrets.public_id}, {"private_id", uid}, {"aes_key", aes},
                             {"replace", *force}},
                            bearer);
      OPENSSL_cleanse(aes.data(), aes.size());
      OPENSSL_cleanse(uid.data(), uid.size());
      if (reg.status != 201) {
        const std::string next = reg.body.value("code", "") == "credential_exists"
                                     ? "revoke that registration (authctl credential revoke), then run again with "
                                       "--force, or use --random-public-id"
                                     : "run again with --force to reprogram it";
        Refused(reg, "slot " + std::to_string(*slot) + " was programmed, but authd did not register the key (" +
                         next + ")");
      }
      std::printf("Registered YubiKey %s for %s (slot %d). Touch it to type a one-time password.\n",
                  secrets.public_id.c_str(), username->c_str(), *slot);
    });
  }
  // login and verify: one sign-in at the station, then what to do with the token.
  auto sign_in_command = [&app, &ctx](const char* name, const char* help, std::function<void(const Station&, const Json&)> done) {
    auto* cmd = app.add_subcommand(name, help);
    auto s = std::make_shared<Station>();
    auto username = std::make_shared<std::string>();
    cmd->add_option("USERNAME", *username)->required();
    AddStationOptions(cmd, *s);
    cmd->callback([&ctx, s, username, done] {
      Defaults(ctx, *s);
      done(*s, SignIn(*s, *username));
    });
  };
  sign_in_command("login", "sign in at the station with your own key; keeps the token for enrol",
                  [](const Station& s, const Json& token) {
                    SaveToken(s, token.value("access_token", ""));
                    std::printf("Signed in as %s for %lld seconds; the station's token is in %s (mode 0600).\n",
                                token["user"].value("username", "").c_str(),
                                static_cast<long long>(token.value("expires_in", 0)), s.token_file.c_str());
                  });
  sign_in_command("verify", "a test sign-in with USERNAME's key; keeps nothing", [](const Station&, const Json& token) {
    std::string amr;
    for (const auto& m : token.value("amr", Json::array())) amr += (amr.empty() ? "" : ", ") + m.get<std::string>();
    std::printf("OK: %s signed in with key %s (%s).\n", token["user"].value("username", "").c_str(),
                token.value("credential_id", "").c_str(), amr.c_str());
  });
}

}  // namespace authctl
