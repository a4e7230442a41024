// Reading TOML tables with errors that name the file, table and key at fault. Include it from .cc files
// only: toml++ is a heavy header and stays out of every public header.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "base/status.h"

namespace lineage {

// Parses `text`; a syntax error names `source`, the line and the column.
inline Result<toml::table> ParseToml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, std::string_view(source));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(source + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                                   ": " + std::string(e.description()));
  }
}

class TableReader {
 public:
  // `where` prefixes every error: "run.toml: [suites.starter]".
  TableReader(const toml::table& table, std::string where) : table_(table), where_(std::move(where)) {}

  Status Error(const std::string& key, const std::string& what) const {
    return Status::InvalidArgument(where_ + " " + key + ": " + what);
  }

  // Fails on the first key not in `known`, naming it and `see` (where the keys are documented).
  Status OnlyKeys(const std::set<std::string>& known, const std::string& see) const {
    for (const auto& [key, value] : table_) {
      const std::string name(key.str());
      if (!known.count(name)) return Error(name, "is not a known key (see " + see + ")");
    }
    return Status::OK();
  }

  Result<std::string> String(const std::string& key, const std::string& fallback, bool required = false) const {
    const toml::node* node = table_.get(key);
    if (!node) {
      if (required) return Error(key, "is required");
      return fallback;
    }
    if (!node->is_string()) return Error(key, "must be a string");
    return std::string(node->as_string()->get());
  }

  Result<bool> Bool(const std::string& key, bool fallback) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (!node->is_boolean()) return Error(key, "must be true or false");
    return node->as_boolean()->get();
  }

  Result<std::vector<std::string>> StringList(const std::string& key) const {
    const toml::node* node = table_.get(key);
    std::vector<std::string> out;
    if (!node) return out;
    const toml::array* array = node->as_array();
    if (!array) return Error(key, "must be an array of strings");
    for (const toml::node& item : *array) {
      if (!item.is_string()) return Error(key, "must be an array of strings");
      out.emplace_back(item.as_string()->get());
    }
    return out;
  }

  Result<double> Number(const std::string& key, double fallback, double min, double max = 1e300) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    double value = 0;
    if (node->is_integer()) value = static_cast<double>(node->as_integer()->get());
    else if (node->is_floating_point()) value = node->as_floating_point()->get();
    else return Error(key, "must be a number");
    if (!std::isfinite(value) || value < min) return Error(key, "must be at least " + FormatNumber(min));
    if (value > max) return Error(key, "must be at most " + FormatNumber(max));
    return value;
  }

  // A duration given in seconds (`key` ends in _s), returned in milliseconds.
  Result<std::int64_t> Milliseconds(const std::string& key, std::int64_t fallback_ms) const {
    LINEAGE_ASSIGN_OR_RETURN(double seconds, Number(key, fallback_ms / 1000.0, 0.001));
    return static_cast<std::int64_t>(std::min(seconds * 1000.0, 86'400'000.0 * 365));
  }

  Result<std::int64_t> Integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                               std::int64_t max = std::int64_t{1} << 40) const {
    const toml::node* node = table_.get(key);
    if (!node) return fallback;
    if (!node->is_integer()) return Error(key, "must be an integer");
    const std::int64_t value = node->as_integer()->get();
    if (value < min) return Error(key, "must be at least " + std::to_string(min));
    if (value > max) return Error(key, "must be at most " + std::to_string(max));
    return value;
  }

  // A sub-table; nullptr when absent. A non-table value is an error.
  Result<const toml::table*> Table(const std::string& key) const {
    const toml::node* node = table_.get(key);
    if (!node) return static_cast<const toml::table*>(nullptr);
    if (!node->is_table()) return Error(key, "must be a table");
    return node->as_table();
  }

  bool Has(const std::string& key) const { return table_.contains(key); }
  const std::string& where() const { return where_; }

 private:
  static std::string FormatNumber(double v) {
    std::string s = std::to_string(v);
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
      bool dot = s.back() == '.';
      s.pop_back();
      if (dot) break;
    }
    return s;
  }

  const toml::table& table_;
  std::string where_;
};

}  // namespace lineage
