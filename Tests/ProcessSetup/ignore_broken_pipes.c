// Runs when the test process loads, before any test: a write to a pipe or socket whose reader
// has gone (a guest, a client or a child that just ended) is EPIPE for the test that made it,
// not SIGPIPE ending the whole process, and every other suite's result, without a word. Set
// from Swift on first use of the integration harness, it came too late once: CI's test process
// died of SIGPIPE a second after the run started.
#include <signal.h>

__attribute__((constructor)) static void swiftlet_tests_ignore_broken_pipes(void) {
    signal(SIGPIPE, SIG_IGN);
}
