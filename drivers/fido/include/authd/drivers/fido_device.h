// Security keys through libfido2, for the enrolment station: list attached keys, read what they
// support, and run the two WebAuthn ceremonies as the client, from the options authd hands out
// to the JSON authd expects back. "soft:FILE" opens the software authenticator (drivers/softkey)
// behind libfido2's I/O hooks, so the same code path runs without hardware.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authd/base/bytes.h"
#include "authd/base/json.h"
#include "authd/base/result.h"

struct fido_dev;

namespace authd::drivers {

struct DeviceInfo {
  std::string path;
  std::string manufacturer;
  std::string product;
  uint16_t vendor_id = 0;
  uint16_t product_id = 0;
  bool fido2 = false;                  // CTAP2; false: a U2F-only key (CTAP1)
  std::string aaguid;                  // UUID form, empty for U2F-only keys
  std::string firmware;                // major.minor.build of the CTAPHID interface
  std::vector<std::string> versions;   // FIDO_2_0, FIDO_2_1, U2F_V2, ...
  std::vector<std::string> options;    // name=true|false
  std::vector<int64_t> algorithms;     // COSE algorithm ids (empty: not reported)
  std::optional<int> pin_retries;      // when clientPin is set
  bool pin_set = false;
};

// Every FIDO HID device attached (libfido2's manifest), each opened once to read its details.
Result<std::vector<DeviceInfo>> ListDevices();

// What the station sends back to authd: the PublicKeyCredential JSON of the ceremony.
struct CeremonyOutput {
  Json credential;  // {id, rawId, type, response: {...}, clientExtensionResults}
};

// Called before the key waits for a touch (the station prints "Touch your key now").
using TouchPrompt = std::function<void()>;

class FidoDevice {
 public:
  ~FidoDevice();
  // A HID path from ListDevices, or soft:FILE. kNotFound / kInvalidArgument with a sentence.
  static Result<std::unique_ptr<FidoDevice>> Open(const std::string& path);
  // The first attached key, when exactly one is attached; otherwise a sentence saying what to do.
  static Result<std::unique_ptr<FidoDevice>> OpenOnly();

  Result<DeviceInfo> Info();
  bool pin_set();

  // navigator.credentials.create() as a client at `origin`: clientDataJSON is built here and
  // hashed for the key; `public_key` is PublicKeyCredentialCreationOptionsJSON as authd returns it.
  Result<CeremonyOutput> MakeCredential(const Json& public_key, const std::string& origin,
                                        const std::optional<std::string>& pin, const TouchPrompt& prompt);
  // navigator.credentials.get() likewise, from PublicKeyCredentialRequestOptionsJSON.
  Result<CeremonyOutput> GetAssertion(const Json& public_key, const std::string& origin,
                                      const std::optional<std::string>& pin, const TouchPrompt& prompt);

  // How long the key may wait for a touch before the operation fails (libfido2's timeout).
  void SetTimeout(int seconds);
  // Cancels the pending request (from another thread while MakeCredential/GetAssertion wait);
  // the waiting call then fails with "the operation was cancelled".
  void Cancel();

  // Sets the first PIN of a key that has none (clientPin).
  Status SetPin(const std::string& pin);

 private:
  FidoDevice(fido_dev* dev, std::string path) : dev_(dev), path_(std::move(path)) {}
  fido_dev* dev_;
  std::string path_;
};

// A libfido2 error code as a sentence that says what went wrong and what to try.
std::string FidoErrorSentence(int code);

}  // namespace authd::drivers
