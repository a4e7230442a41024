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

  // Fails on the first key not in `known`, naming it, the nearest known key when one is close (a typo),
  // the table's keys, and `see` (where the keys are documented).
  Status OnlyKeys(const std::set<std::string>& known, const std::string& see) const {
    for (const auto& [key, value] : table_) {
      const std::string name(key.str());
      if (known.count(name)) continue;
      std::string what = "is not a known key";
      std::string nearest;
      std::size_t best = 3;  // more edits than this is no typo
      std::string all;
      for (const std::string& k : known) {
        const std::size_t d = EditDistance(name, k);
        if (d < best) best = d, nearest = k;
        all += (all.empty() ? "" : ", ") + k;
      }
      if (!nearest.empty()) what += "; did you mean " + nearest + "?";
      return Error(name, what + " (allowed: " + all + "; see " + see + ")");
    }
    return Status::OK();
  }

  // Levenshtein distance: how many single-character edits turn a into b.
  static std::size_t EditDistance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = above;
      }
    }
    return row[b.size()];
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
