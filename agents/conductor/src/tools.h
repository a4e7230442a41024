// The conductor's hands: a bash tool and a file editor, both confined to the workspace.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace conductor {

struct ToolOutput {
  std::string text;
  bool is_error = false;
};

// Keeps the head and tail of `text` within `max_bytes`, with a visible marker where it was clipped.
std::string Clip(const std::string& text, size_t max_bytes);

// Runs `command` with bash in `cwd`; kills it (and its children) after `timeout_seconds`. Returns the
// combined output, clipped, and the exit status.
ToolOutput RunBash(const std::string& command, const std::filesystem::path& cwd, int timeout_seconds,
                   size_t max_output_bytes);

// The editor tool: view, create, str_replace, insert, undo_edit. Paths are relative to the workspace (or
// absolute inside it).
class Editor {
 public:
  Editor(std::filesystem::path workspace, size_t max_output_bytes);
  ToolOutput Run(const nlohmann::json& args);

 private:
  ToolOutput View(const std::filesystem::path& path, const nlohmann::json& args);
  ToolOutput Create(const std::filesystem::path& path, const nlohmann::json& args);
  ToolOutput StrReplace(const std::filesystem::path& path, const nlohmann::json& args);
  ToolOutput Insert(const std::filesystem::path& path, const nlohmann::json& args);
  ToolOutput Undo(const std::filesystem::path& path);
  bool Resolve(const std::string& given, std::filesystem::path* out, std::string* error) const;
  void Remember(const std::filesystem::path& path, const std::string& before);

  std::filesystem::path workspace_;
  size_t max_output_bytes_;
  std::map<std::filesystem::path, std::vector<std::string>> history_;  // earlier contents, newest last
};

}  // namespace conductor
