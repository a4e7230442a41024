// The conductor's hands: a bash tool and a file editor, both confined to the workspace, and the way every
// tool is offered to the model: its schema and its handler declared together, in one Tool.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace conductor {

struct ToolOutput {
  std::string text;
  bool is_error = false;
};

// A tool as the model sees it (name, description, JSON Schema of its arguments) and what runs it.
struct Tool {
  struct Arg {
    std::string name;
    nlohmann::json schema;  // {"type": "string"}, ...
    bool required = false;
  };
  std::string name;
  std::string description;
  std::vector<Arg> args;
  // Called with an object whose required arguments are present and of their schema's type.
  std::function<ToolOutput(const nlohmann::json& args)> run;
};

// The tools in OpenAI's function-calling shape, for the request.
nlohmann::json Schemas(const std::vector<Tool>& tools);

// Runs the tool `name` on `raw` (the JSON text of its arguments, as the model sent it). An unknown tool,
// arguments that are not a JSON object, or a required argument missing or of the wrong type come back as
// errors that say what to send instead. `*args` gets the parsed arguments (or the raw text).
ToolOutput Dispatch(const std::vector<Tool>& tools, const std::string& name, const std::string& raw,
                    nlohmann::json* args);

// Keeps the head and tail of `text` within `max_bytes`, with a visible marker where it was clipped.
std::string Clip(const std::string& text, size_t max_bytes);

// Runs `command` with bash in `cwd` and returns when bash exits, with the combined output so far (clipped)
// and the exit status. Background jobs (`cmd &`) are not waited for; one that writes to the output after
// bash exits gets SIGPIPE, so it must redirect its output to a file. After `timeout_seconds` bash and
// everything it started are killed.
ToolOutput RunBash(const std::string& command, const std::filesystem::path& cwd, int timeout_seconds,
                   size_t max_output_bytes);

// The bash tool and the editor tool over `editor`'s workspace.
Tool BashTool(const std::filesystem::path& workspace, int timeout_seconds, size_t max_output_bytes);
class Editor;
Tool EditorTool(Editor& editor);

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
