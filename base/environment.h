// Advice about the process's environment that names whose environment it is.
//
// A long-lived process (the daemon) keeps the environment it started with: a variable the user exports
// afterwards reaches their shell, not the daemon. "X is not set: export X" is then wrong advice, since the
// user's shell has X. The daemon names itself once, at start; every message about a missing variable says
// whose environment lacks it and how to give it one.
#ifndef LINEAGE_BASE_ENVIRONMENT_H_
#define LINEAGE_BASE_ENVIRONMENT_H_

#include <string>

namespace lineage {

// Names the process whose environment later messages speak of, e.g. "the daemon (pid 42)". Empty (the
// default) means a command the user just typed, whose environment is their shell's.
void SetEnvironmentOwner(std::string owner);
std::string EnvironmentOwner();

// What to say of a variable missing from this process: `in_shell` (the advice to export it) when the
// environment is the user's shell, else "the daemon (pid 42) lacks the environment variable NAME (...);
// restart the daemon (pid 42) with NAME exported".
std::string MissingVariable(const std::string& name, const std::string& in_shell);

}  // namespace lineage

#endif  // LINEAGE_BASE_ENVIRONMENT_H_
