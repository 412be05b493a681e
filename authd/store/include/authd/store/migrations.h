// Schema migrations, embedded from migrations/<dialect>/NNNN_name.sql at build time.
#pragma once

#include <vector>

namespace authd::store {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& SqliteMigrations();

}  // namespace authd::store
