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

// The harness's macros (its include guard among them) must not be defined before the test includes the
// harness: a solution's header that includes the harness itself and then redefines them (`#include
// "check.h"` / `#undef CHECK` / `#define CHECK(c) ...`) would otherwise have the last word, the test's own
// #include being a no-op. Checked just before the test's first #include of a harness file; what the test
// file itself defined before that point (CATCH_CONFIG_MAIN) is its own.
void InsertHarnessGuard(TreeEntry& test, const std::set<std::string>& paths, const std::set<std::string>& own) {
  static const std::regex kInclude(R"re((^|\n)[ \t]*#[ \t]*include[ \t]*"([^"]+)")re");
  const std::string dir = test.path.find('/') == std::string::npos ? "" : test.path.substr(0, test.path.rfind('/') + 1);
  for (auto it = std::sregex_iterator(test.data.begin(), test.data.end(), kInclude); it != std::sregex_iterator(); ++it) {
    const std::string included = (*it)[2].str();
    if (!paths.count(included) && !paths.count(dir + included)) continue;
    const std::size_t at = static_cast<std::size_t>(it->position(0)) + (*it)[1].length();
    std::set<std::string> before;
    DefinedMacros(test.data.substr(0, at), before);
    std::string guard = "// lineage: the harness's names are not the solution's (evaluators/test_guard.h)\n";
    for (const std::string& name : own) {
      if (before.count(name)) continue;
      guard += "#ifdef " + name + "\n#error \"lineage: the solution's headers define " + name +
               " before the tests include their harness\"\n#endif\n";
    }
    test.data.insert(at, guard);
    return;
  }
}

}  // namespace

void GuardCppTests(std::vector<TreeEntry>& overlay) {
  std::set<std::string> used, harness, build, paths;
  bool any = false, asserts = false;
  for (const TreeEntry& e : overlay) {
    if (e.kind == TreeEntry::Kind::kSymlink) continue;
    if (IsCppFile(e.path)) {
      any = any || IsCppSource(e.path);
      std::set<std::string> names = Identifiers(e.data);
      asserts = asserts || (IsCppSource(e.path) && names.count("assert"));
      used.merge(names);
      DefinedMacros(e.data, harness);
      paths.insert(e.path);
    } else if (IsBuildFile(e.path)) {
      build.merge(Identifiers(e.data));  // what the build defines (-D, target_compile_definitions) is its own
    }
  }
  if (!any) return;
  const std::set<std::string>& standard = StandardMacros();
  // The preprocessor's own (__LINE__, __has_include, _Pragma, defined) are always "defined", and -dM does
  // not list them; names of two leading underscores belong to the implementation.
  auto implementation = [](const std::string& name) {
    return name.rfind("__", 0) == 0 || name == "_Pragma" || name == "defined" ||
           std::find_if(std::begin(kKeywords), std::end(kKeywords), [&](const char* k) { return name == k; }) !=
               std::end(kKeywords);
  };
  std::set<std::string> guarded, own;
  for (const std::string& name : used) {
    if (!implementation(name) && !harness.count(name) && !build.count(name) && !standard.count(name)) guarded.insert(name);
  }
  // NDEBUG switches <cassert>'s assert off: the solution may not define it where the tests assert (a
  // Release build defines it itself, and says so: "Release" is then among the build's names).
  if (asserts && !build.count("Release")) guarded.insert("NDEBUG");
  for (const std::string& name : build) guarded.erase(name);
  for (const std::string& name : harness) {
    if (!implementation(name) && !build.count(name) && !standard.count(name)) own.insert(name);
  }
  const std::string guard = Guard(guarded);
  for (TreeEntry& e : overlay) {
    if (e.kind == TreeEntry::Kind::kSymlink || !IsCppSource(e.path)) continue;
    e.data.insert(GuardOffset(e.data), guard);
    InsertHarnessGuard(e, paths, own);
  }
}

const char* const kPytestGuard = R"PY("""lineage's pytest guard (evaluators/test_guard.h): loaded before any code of the task's, it fails the
run when that code replaced a function of pytest, pluggy, unittest, the builtins, sys, os or this guard, or
registered a plugin, by the time the session ends. Run as: python3 -I pytest_guard.py PYTEST-ARGUMENTS..."""
import builtins
import importlib
import os
import pkgutil
import sys
import unittest

import _pytest
import pluggy
import pytest

_WATCHED = ("_pytest", "pytest", "pluggy", "unittest")


def _guard():
    # Everything the guard uses is bound here, in its own frame, before any code of the task's runs.
    exit_now, write, missing, this = os._exit, os.write, object(), sys.modules[__name__]
    getvars, same_type = vars, isinstance

    def load_all():
        # Every module of pytest's and pluggy's now, so that none is first imported (and unwatched) later.
        for package in (_pytest, pluggy):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                try:
                    importlib.import_module(info.name)
                except Exception:
                    pass

    def watched(value):
        return callable(value) or same_type(value, (property, staticmethod, classmethod))

    def snapshot():
        owners = [m for n, m in list(sys.modules.items()) if n.split(".")[0] in _WATCHED]
        owners += [builtins, sys, os, this]
        snap = []
        for owner in owners:
            for name, value in list(getvars(owner).items()):
                if not watched(value):
                    continue
                snap.append((owner, name, value))
                if same_type(value, type) and str(getattr(value, "__module__", "")).split(".")[0] in _WATCHED:
                    snap.extend((value, a, m) for a, m in list(getvars(value).items()) if watched(m))
        return snap

    def judge(snap, plugins=None, manager=None):
        what = None
        for owner, name, value in snap:
            if getvars(owner).get(name, missing) is not value:
                what = "%s.%s" % (getattr(owner, "__name__", "?"), name)
                break
        if what is None and manager is not None and manager.get_plugins() != plugins:
            what = "pytest's plugins (one was registered)"
        if what:
            write(2, ("\nlineage: the code under test replaced %s; the run does not count\n" % what).encode())
            exit_now(3)

    class Guard:
        # Pytest's own plugins patch pytest while it is configured (legacypath does) and register some as
        # the session starts, so the session is compared with the start of collection, the first moment
        # any code of the task's can run.
        @pytest.hookimpl(tryfirst=True)
        def pytest_collection(self, session):
            self.snap = snapshot()
            self.plugins = set(session.config.pluginmanager.get_plugins())

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session, exitstatus):
            if hasattr(self, "snap"):
                judge(self.snap, self.plugins, session.config.pluginmanager)

    def main(args):
        load_all()
        before = snapshot()
        code = pytest.main(args, plugins=[Guard()])
        judge(before)
        return code

    return main


if __name__ == "__main__":
    sys.exit(_guard()(sys.argv[1:]))
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
// The matchers compare with the language's own functions (Object.is, Object.keys, Array.isArray, ...), which
// run in the same realm as the task's code: those stay what they are too. Prototypes are left writable:
// locking them breaks ordinary code that assigns a method of the same name to an object of its own.
for (const owner of [Object, Array, Reflect, Number, String, Symbol, JSON, Math]) {
  for (const key of Reflect.ownKeys(owner)) {
    const descriptor = Object.getOwnPropertyDescriptor(owner, key);
    if (!descriptor.configurable) continue;
    const locked = { configurable: false };
    if ('value' in descriptor) locked.writable = false;
    Object.defineProperty(owner, key, locked);
  }
}
)JS";

}  // namespace lineage
