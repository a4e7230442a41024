// Clang's thread-safety annotations: which mutex guards a member, which a function needs held. Under clang
// with -Wthread-safety they are checked at compile time; elsewhere they document the rule and cost nothing.
#pragma once

#if defined(__clang__)
#define LINEAGE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LINEAGE_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) LINEAGE_THREAD_ANNOTATION(guarded_by(x))
#define REQUIRES(...) LINEAGE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) LINEAGE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
