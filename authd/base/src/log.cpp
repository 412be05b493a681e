#include "authd/base/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "authd/base/clock.h"

namespace authd {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<std::FILE*> g_sink{nullptr};
std::mutex g_mu;

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
void SetLogSink(std::FILE* sink) { g_sink.store(sink); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log(LogLevel level, std::string_view event, Json fields) {
  if (static_cast<int>(level) < g_level.load()) return;
  Json line = Json::object();
  SystemClock clock;
  int64_t ms = clock.NowMillis();
  line["ts"] = Rfc3339(ms / 1000);
  line["level"] = LevelName(level);
  line["event"] = std::string(event);
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) line[k] = std::move(v);
  }
  std::string text = DumpJson(line);
  text.push_back('\n');
  std::FILE* out = g_sink.load();
  if (!out) out = stderr;
  std::lock_guard<std::mutex> lock(g_mu);
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

}  // namespace authd
