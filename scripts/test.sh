#!/usr/bin/env bash
# One command: install what is missing, build, and run every test: the full suite, then the
# concurrency tests under ThreadSanitizer and the engine/memory tests under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure --parallel 2 --timeout 600)
if [ "${THEATER_SKIP_SANITIZERS:-0}" != 1 ]; then
  BUILD_DIR=build-tsan BUILD_TYPE=Debug scripts/build.sh -DTHEATER_SANITIZE=thread
  # The scheduler, mailboxes, fibers and the store's writer thread under TSan, and the runtime's
  # messaging, request waits and lifecycle on the AOT tier (turns that wait on worker fibers), and
  # two cluster tests (a NATS thread runs turns and continues waiting ones: Scheduler::RunHere).
  # Tests that recover from a native stack overflow (a SIGSEGV on a guard page) stay out: TSan
  # does not survive that signal.
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
     ./theater_tests --gtest_filter='Scheduler*:Mailbox*:Fiber*:SupervisionPolicy*:StoreTest*:Chain.*:ManifestTable*:EventLog*:ClusterWire*:SmallMutex*:ShardedCounter*:Tiers/MessagingTest.*/Aot:Tiers/RuntimeTest.*/Aot:Tiers/LifecycleTest.*/Aot:ClusterTest.RequestAndSend*:ClusterTest.PerPairOrder*')
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DTHEATER_SANITIZE=address,undefined
  (cd build-asan && ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
     ./theater_tests)
fi
