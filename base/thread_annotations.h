// Clang's thread-safety annotations: which mutex guards a member, which a function needs held. lineage
// builds with GCC and std::mutex is no annotated capability, so nothing checks them yet: they state the rule
// where a reader needs it, and cost nothing.
#pragma once

#if defined(__clang__)
#define LINEAGE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LINEAGE_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) LINEAGE_THREAD_ANNOTATION(guarded_by(x))
#define REQUIRES(...) LINEAGE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) LINEAGE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
