// Structured logs: one JSON object per line on stderr. Callers pass names of checks and ids,
// never secrets or raw credentials. Thread-safe.
#pragma once

#include <string_view>

#include "authd/base/json.h"

namespace authd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
// Redirects output (tests); nullptr restores stderr. The FILE must outlive the logging.
void SetLogSink(std::FILE* sink);
void Log(LogLevel level, std::string_view event, Json fields = Json::object());
// Whether a line at `level` would be written: lets hot paths skip building its fields.
bool LogEnabled(LogLevel level);

}  // namespace authd
