// Keeping the hidden tests' machinery out of the agent's reach (internal to evaluators/).
//
// Hidden tests run in the same process as the agent's code, and in C and C++ in the same translation unit
// as the agent's headers: a header that says `#undef CHECK` / `#define CHECK(c) ((void)0)` turns every
// assertion off, `#define CATCH_CONFIG_DISABLE` compiles Catch's out, `#define if(c) if (0)` or a
// function-like macro named like the tested function (`#define find(v, x) true ? 1 : (x)`) makes every
// comparison hold. In Python the agent's module can replace pytest's own functions when the tests import it.
//
// GuardCppTests inserts a guard into each hidden C or C++ test file, after its #include lines, so it runs in
// the real build, with the real flags: the build stops with #error when, after the agent's headers and the
// harness, a keyword is a macro, or a name the hidden tests or their harness use is a macro that neither the
// harness nor the standard library defines. The harness must therefore come after the agent's header (the
// starter's tests and every Polyglot test include it first); the harness's own macros are then its own.
//
// kPytestGuard is a pytest plugin, run before the tests import any code of the agent's, that fails the run
// when pytest's, pluggy's or the builtins' functions were replaced by the time the session ends. kJestGuard,
// a jest setup file, makes a test file's globals (expect, test, ...) and the matchers unchangeable before the
// tests import the agent's module: `globalThis.expect = ...` or `expect.extend({toEqual: ...})` fail it.
//
// Neither makes code that runs in the test process harmless: such code can write a report of its own and
// exit (docs/evaluators.md says so). They close the cheap doors: redefining what the tests are made of.
#pragma once

#include <vector>

#include "base/safe_tree.h"

namespace lineage {

// Inserts the guard into every C or C++ source among `overlay` (the hidden tests and their harness).
void GuardCppTests(std::vector<TreeEntry>& overlay);

// The pytest guard, a script that runs pytest with the guard loaded first and takes pytest's arguments. Every
// scoring sandbox has it, read-only, at kPytestGuardInside: a test command runs
// `python3 -I /lineage/pytest_guard.py ARGS...` where it would run `pytest ARGS...` (-I: the workspace
// cannot shadow pytest or the standard library at start-up).
inline constexpr const char* kPytestGuardInside = "/lineage/pytest_guard.py";
extern const char* const kPytestGuard;
// The jest guard, for jest's --setupFilesAfterEnv; every scoring sandbox has it, read-only, there.
inline constexpr const char* kJestGuardInside = "/lineage/jest_guard.js";
extern const char* const kJestGuard;

}  // namespace lineage
