#include "tools.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace conductor {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Clip(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const size_t half = max_bytes / 2;
  return text.substr(0, half) + "\n[... " + std::to_string(text.size() - 2 * half) + " bytes clipped ...]\n" +
         text.substr(text.size() - half);
}

ToolOutput RunBash(const std::string& command, const fs::path& cwd, int timeout_seconds, size_t max_output_bytes) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {"cannot create a pipe", true};
  pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    return {"cannot fork", true};
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so a timeout kills what it started too
    dup2(out[1], 1);
    dup2(out[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execl("/bin/bash", "bash", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  setpgid(pid, pid);
  fcntl(out[0], F_SETFL, O_NONBLOCK);

  // Read until bash exits (not until the pipe closes: a background job holds it open), then take what is
  // already in the pipe.
  std::string output;
  bool eof = false;  // every writer closed the pipe (bash may still run, its output sent elsewhere)
  auto drain = [&] {  // what is in the pipe now, up to 1 MiB: a command that never stops writing is checked on
    char buf[65536];
    ssize_t n = 0;
    for (int i = 0; i < 16 && (n = read(out[0], buf, sizeof buf)) > 0; ++i) {
      // Keep reading so the command is not blocked, but hold at most twice the limit.
      if (output.size() < 2 * max_output_bytes) output.append(buf, static_cast<size_t>(n));
    }
    if (n == 0) eof = true;
  };
  int status = 0;
  bool exited = false, timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (!exited) {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    poll(&p, eof ? 0 : 1, 50);  // wakes for output, or to check on bash; after end of file, only waits
    if (!eof) drain();
    exited = waitpid(pid, &status, WNOHANG) == pid;
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (!eof) drain();
  close(out[0]);

  std::string text = Clip(output, max_output_bytes);
  if (text.empty()) text = "(no output)\n";
  if (timed_out) return {text + "\n[timed out after " + std::to_string(timeout_seconds) + " s; the command was killed]", true};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {text + "\n[exit code " + std::to_string(code) + "]", code != 0};
}

namespace {

bool ReadText(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

bool WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

std::string Str(const json& args, const char* key) {
  return args.contains(key) && args[key].is_string() ? args[key].get<std::string>() : std::string();
}

}  // namespace

Editor::Editor(fs::path workspace, size_t max_output_bytes)
    : workspace_(fs::weakly_canonical(workspace)), max_output_bytes_(max_output_bytes) {}

bool Editor::Resolve(const std::string& given, fs::path* out, std::string* error) const {
  if (given.empty()) {
    *error = "`path` is required";
    return false;
  }
  fs::path p = fs::path(given).is_absolute() ? fs::path(given) : workspace_ / given;
  p = fs::weakly_canonical(p);
  auto [end, _] = std::mismatch(workspace_.begin(), workspace_.end(), p.begin(), p.end());
  if (end != workspace_.end()) {
    *error = "path " + given + " is outside the workspace " + workspace_.string();
    return false;
  }
  *out = p;
  return true;
}

void Editor::Remember(const fs::path& path, const std::string& before) { history_[path].push_back(before); }

ToolOutput Editor::Run(const json& args) {
  const std::string command = Str(args, "command");
  fs::path path;
  std::string error;
  if (!Resolve(Str(args, "path"), &path, &error)) return {error, true};
  if (command == "view") return View(path, args);
  if (command == "create") return Create(path, args);
  if (command == "str_replace") return StrReplace(path, args);
  if (command == "insert") return Insert(path, args);
  if (command == "undo_edit") return Undo(path);
  return {"unknown editor command '" + command + "'; use view, create, str_replace, insert or undo_edit", true};
}

ToolOutput Editor::View(const fs::path& path, const json& args) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::string listing;
    for (auto it = fs::recursive_directory_iterator(path, ec); it != fs::recursive_directory_iterator(); ++it) {
      if (it.depth() > 1) continue;
      const std::string name = it->path().filename().string();
      if (name.rfind('.', 0) == 0) {  // hidden files and .git
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      listing += fs::relative(it->path(), workspace_).string() + (it->is_directory() ? "/\n" : "\n");
    }
    return {Clip(listing.empty() ? "(empty directory)\n" : listing, max_output_bytes_), false};
  }
  std::string text;
  if (!ReadText(path, &text)) return {"cannot read " + path.string() + ": no such file", true};
  std::vector<std::string> lines = Lines(text);
  long first = 1, last = static_cast<long>(lines.size());
  if (args.contains("view_range")) {
    const json& range = args["view_range"];
    if (!range.is_array() || range.size() != 2 || !range[0].is_number_integer() || !range[1].is_number_integer()) {
      return {"view_range must be [start, end] (1-based; end -1 means to the end)", true};
    }
    first = range[0].get<long>();
    last = range[1].get<long>() == -1 ? static_cast<long>(lines.size()) : range[1].get<long>();
    if (first < 1 || first > last || last > static_cast<long>(lines.size())) {
      return {"view_range [" + std::to_string(first) + ", " + std::to_string(last) + "] is outside the file's " +
                  std::to_string(lines.size()) + " lines",
              true};
    }
  }
  std::string out;
  for (long i = first; i <= last; ++i) out += std::to_string(i) + "\t" + lines[static_cast<size_t>(i - 1)] + "\n";
  return {Clip(out.empty() ? "(empty file)\n" : out, max_output_bytes_), false};
}

ToolOutput Editor::Create(const fs::path& path, const json& args) {
  std::error_code ec;
  if (fs::exists(path, ec)) return {path.string() + " already exists; use str_replace or insert to change it", true};
  if (!args.contains("file_text") || !args["file_text"].is_string()) return {"`file_text` is required for create", true};
  fs::create_directories(path.parent_path(), ec);
  if (!WriteText(path, args["file_text"].get<std::string>())) return {"cannot write " + path.string(), true};
  Remember(path, "");
  return {"created " + fs::relative(path, workspace_).string(), false};
}

ToolOutput Editor::StrReplace(const fs::path& path, const json& args) {
  std::string text;
  if (!ReadText(path, &text)) return {"cannot read " + path.string() + ": no such file", true};
  const std::string old_str = Str(args, "old_str"), new_str = Str(args, "new_str");
  if (old_str.empty()) return {"`old_str` is required and must not be empty", true};
  const size_t n = Count(text, old_str);
  if (n == 0) return {"old_str was not found in " + path.filename().string() + "; nothing changed. View the file and copy the text exactly, whitespace included", true};
  if (n > 1) return {"old_str occurs " + std::to_string(n) + " times in " + path.filename().string() + "; nothing changed. Include more surrounding lines so it matches once", true};
  const size_t at = text.find(old_str);
  Remember(path, text);
  text.replace(at, old_str.size(), new_str);
  if (!WriteText(path, text)) return {"cannot write " + path.string(), true};
  const long line = static_cast<long>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n')) + 1;
  return {"replaced at line " + std::to_string(line) + " of " + fs::relative(path, workspace_).string(), false};
}

ToolOutput Editor::Insert(const fs::path& path, const json& args) {
  std::string text;
  if (!ReadText(path, &text)) return {"cannot read " + path.string() + ": no such file", true};
  if (!args.contains("insert_line") || !args["insert_line"].is_number_integer()) return {"`insert_line` (an integer) is required", true};
  std::vector<std::string> lines = Lines(text);
  const long after = args["insert_line"].get<long>();
  if (after < 0 || after > static_cast<long>(lines.size())) {
    return {"insert_line " + std::to_string(after) + " is outside 0.." + std::to_string(lines.size()), true};
  }
  std::vector<std::string> added = Lines(Str(args, "new_str"));
  lines.insert(lines.begin() + after, added.begin(), added.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  Remember(path, text);
  if (!WriteText(path, out)) return {"cannot write " + path.string(), true};
  return {"inserted " + std::to_string(added.size()) + " lines after line " + std::to_string(after), false};
}

ToolOutput Editor::Undo(const fs::path& path) {
  auto it = history_.find(path);
  if (it == history_.end() || it->second.empty()) return {"no edit of " + path.filename().string() + " to undo", true};
  std::string before = it->second.back();
  it->second.pop_back();
  if (!WriteText(path, before)) return {"cannot write " + path.string(), true};
  return {"undid the last edit of " + fs::relative(path, workspace_).string(), false};
}

json Schemas(const std::vector<Tool>& tools) {
  json out = json::array();
  for (const Tool& t : tools) {
    json properties = json::object(), required = json::array();
    for (const Tool::Arg& a : t.args) {
      properties[a.name] = a.schema;
      if (a.required) required.push_back(a.name);
    }
    out.push_back({{"type", "function"},
                   {"function",
                    {{"name", t.name},
                     {"description", t.description},
                     {"parameters", {{"type", "object"}, {"properties", properties}, {"required", required}}}}}});
  }
  return out;
}

namespace {

bool HasType(const json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  return true;
}

}  // namespace

ToolOutput Dispatch(const std::vector<Tool>& tools, const std::string& name, const std::string& raw, json* args) {
  *args = json::parse(raw.empty() ? "{}" : raw, nullptr, false);
  if (!args->is_object()) {
    *args = raw;
    return {"the arguments are not a valid JSON object: " + raw.substr(0, 200) + "; call the tool again with valid JSON", true};
  }
  const Tool* tool = nullptr;
  std::string names;
  for (const Tool& t : tools) {
    if (t.name == name) tool = &t;
    names += (names.empty() ? "" : ", ") + t.name;
  }
  if (!tool) return {"unknown tool '" + name + "'; the tools are " + names, true};
  for (const Tool::Arg& a : tool->args) {
    const std::string type = a.schema.value("type", "");
    if (a.required && (!args->contains(a.name) || !HasType((*args)[a.name], type))) {
      return {"`" + a.name + "` (" + (type == "integer" ? "an " : "a ") + type + ") is required", true};
    }
  }
  return tool->run(*args);
}

Tool BashTool(const fs::path& workspace, int timeout_seconds, size_t max_output_bytes) {
  return {"bash",
          "Run a bash command in the repository (working directory). Returns when the command exits, with its output "
          "(clipped) and exit code. A background job keeps running only with its output redirected "
          "(cmd > log 2>&1 &); read the file later. Commands are killed after " + std::to_string(timeout_seconds) + " s.",
          {{"command", {{"type", "string"}}, true}},
          [=](const json& args) {
            return RunBash(args["command"].get<std::string>(), workspace, timeout_seconds, max_output_bytes);
          }};
}

Tool EditorTool(Editor& editor) {
  return {"editor",
          "View, create and edit files. Commands: view (a file with line numbers, or a directory two levels deep; "
          "optional view_range [start, end], end -1 = to the end), create (path, file_text; fails if the file exists), "
          "str_replace (path, old_str, new_str; old_str must match exactly once), insert (path, insert_line, new_str; "
          "the text goes after that line, 0 = start), undo_edit (path).",
          {{"command", {{"type", "string"}, {"enum", {"view", "create", "str_replace", "insert", "undo_edit"}}}, true},
           {"path", {{"type", "string"}}, true},
           {"file_text", {{"type", "string"}}},
           {"old_str", {{"type", "string"}}},
           {"new_str", {{"type", "string"}}},
           {"insert_line", {{"type", "integer"}}},
           {"view_range", {{"type", "array"}, {"items", {{"type", "integer"}}}}}},
          [&editor](const json& args) { return editor.Run(args); }};
}

}  // namespace conductor
