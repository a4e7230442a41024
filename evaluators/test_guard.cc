#include "evaluators/test_guard.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <string>

#include "sandbox/sandbox.h"

namespace lineage {

namespace {

// C++'s keywords, and the literals that read like them. The alternative tokens (and, or, not, ...) are left
// out: they cannot be macros in C++.
constexpr const char* kKeywords[] = {
    "alignas", "alignof", "asm", "auto", "bool", "break", "case", "catch", "char", "char8_t", "char16_t",
    "char32_t", "class", "concept", "const", "consteval", "constexpr", "constinit", "const_cast", "continue",
    "co_await", "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast", "else",
    "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int",
    "long", "mutable", "namespace", "new", "noexcept", "nullptr", "operator", "private", "protected", "public",
    "register", "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef",
    "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while"};

bool EndsWithAny(const std::string& path, std::initializer_list<const char*> suffixes) {
  return std::any_of(suffixes.begin(), suffixes.end(), [&](const char* s) {
    const std::string suffix(s);
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
}

bool IsCppSource(const std::string& path) { return EndsWithAny(path, {".c", ".cc", ".cpp", ".cxx", ".c++"}); }
bool IsCppFile(const std::string& path) {
  return IsCppSource(path) || EndsWithAny(path, {".h", ".hh", ".hpp", ".hxx", ".inl", ".ipp", ".tpp"});
}

bool IsBuildFile(const std::string& path) {
  const std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  return name == "CMakeLists.txt" || name == "Makefile" || name == "makefile" || EndsWithAny(name, {".cmake", ".mk"});
}

bool IsIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The identifiers of C or C++ text outside comments and string and character literals (a raw string is
// read as an ordinary one: its identifiers count, which only makes the guard stricter).
std::set<std::string> Identifiers(const std::string& text) {
  std::set<std::string> out;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
    } else if (text.compare(i, 2, "/*") == 0) {
      i = text.find("*/", i + 2);
      if (i == std::string::npos) break;
      i += 2;
    } else if (c == '"' || (c == '\'' && (i == 0 || !IsIdentifierChar(text[i - 1])))) {
      for (++i; i < text.size() && text[i] != c && text[i] != '\n'; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const std::size_t start = i;
      while (i < text.size() && IsIdentifierChar(text[i])) ++i;
      out.insert(text.substr(start, i - start));
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (i < text.size() && (IsIdentifierChar(text[i]) || text[i] == '.' || text[i] == '\'')) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

// The names `text` defines with #define lines (`%:define` is the same directive).
void DefinedMacros(const std::string& text, std::set<std::string>& out) {
  static const std::regex kDefine(R"((?:^|\n)[ \t]*(?:#|%:)[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kDefine); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
}

// The macros of the compiler and the standard library, as `g++ -dM` lists them after every standard header
// (and the POSIX ones tests use): names the agent's header may bring in by including one. Empty when g++ is
// missing, in which case no C++ test can be built anyway.
const std::set<std::string>& StandardMacros() {
  static const std::set<std::string> macros = [] {
    std::set<std::string> out;
    SandboxSpec spec;
    spec.argv = {"g++", "-std=c++20", "-E", "-dM", "-x", "c++", "-"};
    spec.stdin_data = "#include <bits/stdc++.h>\n#include <unistd.h>\n#include <pthread.h>\n#include <sys/types.h>\n";
    spec.limits.wall_ms = 60'000;
    spec.limits.output_bytes = 16ull << 20;
    auto r = RunTrusted(spec);
    if (r.ok() && r->ok()) DefinedMacros(r->stdout_text, out);
    return out;
  }();
  return macros;
}

// Where the guard goes in a test file: after its leading #-lines, comments and blank lines, where the
// agent's headers and the harness have been included and the tests begin.
std::size_t GuardOffset(const std::string& text) {
  std::size_t at = 0;
  bool in_comment = false, continued = false;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    end = end == std::string::npos ? text.size() : end + 1;
    std::string line = text.substr(at, end - at);
    const std::size_t first = line.find_first_not_of(" \t\r\n");
    const std::string body = first == std::string::npos ? "" : line.substr(first);
    const bool was_continued = continued;
    continued = !body.empty() && body.find_last_not_of(" \t\r\n") != std::string::npos &&
                body[body.find_last_not_of(" \t\r\n")] == '\\';
    if (in_comment) {
      in_comment = body.find("*/") == std::string::npos;
    } else if (body.empty() || was_continued || body[0] == '#' || body.rfind("//", 0) == 0) {
    } else if (body.rfind("/*", 0) == 0) {
      in_comment = body.find("*/", 2) == std::string::npos;
    } else {
      return at;
    }
    at = end;
  }
  return text.size();
}

std::string Guard(const std::set<std::string>& names) {
  std::string guard = "\n// lineage: the tests' names are the tests' own (evaluators/test_guard.h)\n";
  for (const char* keyword : kKeywords) {
    guard += "#ifdef " + std::string(keyword) + "\n#error \"lineage: the solution's headers define the keyword '" +
             keyword + "' as a macro\"\n#endif\n";
  }
  for (const std::string& name : names) {
    guard += "#ifdef " + name + "\n#error \"lineage: the solution's headers define " + name +
             ", a name the hidden tests or their harness use\"\n#endif\n";
  }
  return guard + "// lineage: end of guard\n";
}

}  // namespace

void GuardCppTests(std::vector<TreeEntry>& overlay) {
  std::set<std::string> used, own;
  bool any = false;
  for (const TreeEntry& e : overlay) {
    if (e.kind == TreeEntry::Kind::kSymlink) continue;
    if (IsCppFile(e.path)) {
      any = any || IsCppSource(e.path);
      used.merge(Identifiers(e.data));
      DefinedMacros(e.data, own);
    } else if (IsBuildFile(e.path)) {
      own.merge(Identifiers(e.data));  // what the build defines (-D, target_compile_definitions) is its own
    }
  }
  if (!any) return;
  const std::set<std::string>& standard = StandardMacros();
  std::set<std::string> guarded;
  for (const std::string& name : used) {
    // The preprocessor's own (__LINE__, __has_include, _Pragma, defined) are always "defined", and -dM does
    // not list them; names of two leading underscores belong to the implementation.
    if (name.rfind("__", 0) == 0 || name == "_Pragma" || name == "defined") continue;
    if (own.count(name) || standard.count(name)) continue;
    if (std::find_if(std::begin(kKeywords), std::end(kKeywords), [&](const char* k) { return name == k; }) !=
        std::end(kKeywords)) {
      continue;
    }
    guarded.insert(name);
  }
  const std::string guard = Guard(guarded);
  for (TreeEntry& e : overlay) {
    if (e.kind == TreeEntry::Kind::kSymlink || !IsCppSource(e.path)) continue;
    e.data.insert(GuardOffset(e.data), guard);
  }
}

const char* const kPytestGuard = R"PY("""lineage's pytest guard (evaluators/test_guard.h): loaded before any code of the task's, it fails the
run when that code replaced a function of pytest, pluggy, the builtins, sys or os by the time the session ends.
Run as: python3 -I pytest_guard.py PYTEST-ARGUMENTS..."""
import builtins
import importlib
import os
import pkgutil
import sys

import _pytest
import pluggy
import pytest

_exit = os._exit
_write = os.write
_WATCHED = ("_pytest", "pytest", "pluggy")
_MISSING = object()


def _load_all():
    # Every module of pytest's and pluggy's now, so that none is first imported (and unwatched) later.
    for package in (_pytest, pluggy):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(info.name)
            except Exception:
                pass


def _callable(value):
    return callable(value) or isinstance(value, (property, staticmethod, classmethod))


def _snapshot():
    owners = [m for n, m in list(sys.modules.items()) if n.split(".")[0] in _WATCHED]
    owners += [builtins, sys, os]
    snap = []
    for owner in owners:
        for name, value in list(vars(owner).items()):
            if not _callable(value):
                continue
            snap.append((owner, name, value))
            if isinstance(value, type) and str(getattr(value, "__module__", "")).split(".")[0] in _WATCHED:
                snap.extend((value, attr, member) for attr, member in list(vars(value).items()) if _callable(member))
    return snap


def _judge(snap):
    for owner, name, value in snap:
        if vars(owner).get(name, _MISSING) is not value:
            what = "%s.%s" % (getattr(owner, "__name__", "?"), name)
            _write(2, ("\nlineage: the code under test replaced %s; the run does not count\n" % what).encode())
            _exit(3)


class _Guard:
    # Pytest's own plugins patch pytest while it is configured (legacypath does), so the session is
    # compared with its start: configured, and before collection imports any code of the task's.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        self.snap = _snapshot()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        _judge(self.snap)


def main(args):
    _load_all()
    before = _snapshot()
    code = pytest.main(args, plugins=[_Guard()])
    _judge(before)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
)PY";

const char* const kJestGuard = R"JS(// lineage's jest guard (evaluators/test_guard.h): run after jest has set up a test file's globals and before
// the file imports any code of the task's, it makes what the tests are made of unchangeable: the globals
// (expect, test, describe, ...) cannot be replaced, nor matchers added or replaced (expect.extend).
'use strict';
const lock = (owner, key) => {
  if (!(key in owner)) return;
  Object.defineProperty(owner, key, { value: owner[key], writable: false, configurable: false, enumerable: true });
};
for (const name of ['expect', 'test', 'it', 'describe', 'xtest', 'xit', 'xdescribe', 'fit', 'fdescribe',
                    'beforeAll', 'beforeEach', 'afterAll', 'afterEach', 'jest']) {
  lock(globalThis, name);
}
const registry = Symbol.for('$$jest-matchers-object');
// jest defines the registry itself, unchangeable; what it holds is frozen here.
if (globalThis[registry]) Object.freeze(globalThis[registry].matchers);
Object.freeze(globalThis.expect);
)JS";

}  // namespace lineage
