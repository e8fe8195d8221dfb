// SHUTDOWN_WATCH and the shutdown bit in POLL, with the signal handlers replaced by a flag the
// test sets (the handlers themselves run in the integration tests, against real tenders).
#if canImport(Glibc)
import Glibc
#endif
import SwiftletABI
import Testing
@testable import TenderCore

@Suite struct ShutdownSignalsTests {
    /// A handler whose shutdown "signal" is `signal`, with a real wake-up pipe.
    final class Fixture {
        let guest: HypercallFixture
        let handler: HypercallHandler
        let shutdown: ShutdownSignals
        var signal: Int32 = 0
        var watched = false
        let request: UInt64

        init(gracePeriodSeconds: UInt32 = 10) throws {
            guest = try HypercallFixture()
            var fds: [Int32] = [-1, -1]
            #expect(pipe(&fds) == 0)
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            var requested: () -> Int32 = { 0 }
            var watch: () -> Void = {}
            shutdown = ShutdownSignals(gracePeriodSeconds: gracePeriodSeconds, wakeReadFD: fds[0], wakeWriteFD: fds[1],
                                       requestedSignal: { requested() }, startWatching: { watch() })
            handler = HypercallHandler(memory: guest.memory, consoleFD: guest.writeFD, shutdown: shutdown)
            request = guest.start + 0x3000
            requested = { [unowned self] in self.signal }
            watch = { [unowned self] in self.watched = true }
        }

        deinit {
            close(shutdown.wakeReadFD)
            close(shutdown.wakeWriteFD)
        }

        func call(_ number: swiftlet_hypercall) -> HypercallHandler.Outcome {
            handler.handle(number: number.rawValue, argument: GuestAddress(raw: request))
        }

        /// One POLL with `timeout`; its ready set and how long it took.
        func poll(timeout: UInt64) -> (ready: UInt64, seconds: Double) {
            guest.put(swiftlet_hc_poll(timeout: timeout, ready_set: 0), at: request)
            let start = HypercallHandler.clock(CLOCK_MONOTONIC)
            #expect(call(SWIFTLET_HC_POLL) == .resume)
            let took = Double(HypercallHandler.clock(CLOCK_MONOTONIC) - start) / 1e9
            return (guest.get(swiftlet_hc_poll.self, at: request).ready_set, took)
        }

        /// What a signal handler does: note the signal, then write the wake-up byte.
        func signalArrives(_ number: Int32 = SIGTERM) {
            signal = number
            var byte: UInt8 = 1
            #expect(write(shutdown.wakeWriteFD, &byte, 1) == 1)
        }
    }

    @Test func watchAnswersTheGracePeriodAndStartsWatching() throws {
        let f = try Fixture(gracePeriodSeconds: 7)
        f.guest.put(swiftlet_hc_shutdown_watch(grace_period: 99), at: f.request)
        #expect(f.call(SWIFTLET_HC_SHUTDOWN_WATCH) == .resume)
        #expect(f.guest.get(swiftlet_hc_shutdown_watch.self, at: f.request).grace_period == 7_000_000_000)
        #expect(f.watched)
    }

    @Test func withoutShutdownSignalsTheGracePeriodIsZero() throws {
        let f = try HypercallFixture()
        let address = f.start + 0x3000
        f.put(swiftlet_hc_shutdown_watch(grace_period: 99), at: address)
        #expect(f.call(SWIFTLET_HC_SHUTDOWN_WATCH, address) == .resume)
        #expect(f.get(swiftlet_hc_shutdown_watch.self, at: address).grace_period == 0)
    }

    @Test func noRequestNoBit() throws {
        let f = try Fixture()
        let reply = f.poll(timeout: 20_000_000)
        #expect(reply.ready == 0)
        #expect(reply.seconds >= 0.015, "the poll slept its timeout")
    }

    @Test func aRequestWakesOnePollThenIsOnlyReported() throws {
        let f = try Fixture()
        f.signalArrives()
        let first = f.poll(timeout: 5_000_000_000)
        #expect(first.ready == SWIFTLET_POLL_SHUTDOWN)
        #expect(first.seconds < 0.5, "the request ends the sleep at once (took \(first.seconds) s)")
        // The pipe stays readable, but is no longer watched: later polls sleep their timeout,
        // so a draining guest does not spin, and still see the bit.
        let second = f.poll(timeout: 50_000_000)
        #expect(second.ready == SWIFTLET_POLL_SHUTDOWN)
        #expect(second.seconds >= 0.045, "took \(second.seconds) s")
    }

    /// What the signal handler shares with the poll: the signal (0 until it arrives), written
    /// by another thread here as by the handler in a tender.
    struct LateSignal {
        var signal: Int32 = 0
        var wakeFD: Int32
    }

    @Test func aRequestDuringASleepWakesIt() throws {
        let f = try Fixture()
        let late = UnsafeMutablePointer<LateSignal>.allocate(capacity: 1)
        late.initialize(to: LateSignal(wakeFD: f.shutdown.wakeWriteFD))
        defer { late.deallocate() }
        let shutdown = ShutdownSignals(gracePeriodSeconds: 10, wakeReadFD: f.shutdown.wakeReadFD,
                                       wakeWriteFD: f.shutdown.wakeWriteFD,
                                       requestedSignal: { late.pointee.signal }, startWatching: {})
        let handler = HypercallHandler(memory: f.guest.memory, shutdown: shutdown)
        var thread = pthread_t()
        #expect(pthread_create(&thread, nil, { context in
            let late = context!.assumingMemoryBound(to: LateSignal.self)
            usleep(100_000)
            late.pointee.signal = SIGINT
            var byte: UInt8 = 1
            _ = write(late.pointee.wakeFD, &byte, 1)
            return nil
        }, late) == 0)
        f.guest.put(swiftlet_hc_poll(timeout: 900_000_000, ready_set: 0), at: f.request)
        let start = HypercallHandler.clock(CLOCK_MONOTONIC)
        #expect(handler.handle(number: SWIFTLET_HC_POLL.rawValue, argument: GuestAddress(raw: f.request)) == .resume)
        let seconds = Double(HypercallHandler.clock(CLOCK_MONOTONIC) - start) / 1e9
        pthread_join(thread, nil)
        #expect(f.guest.get(swiftlet_hc_poll.self, at: f.request).ready_set == SWIFTLET_POLL_SHUTDOWN)
        #expect(seconds >= 0.09 && seconds < 0.6, "woken by the request, not by the timeout (took \(seconds) s)")
    }

    @Test func theBitReachesNetExchangeToo() throws {
        let f = try Fixture()
        f.signalArrives()
        var exchange = swiftlet_hc_net_exchange()
        exchange.timeout = 1_000_000_000
        exchange.read.handle = 0
        f.guest.put(exchange, at: f.request)
        #expect(f.call(SWIFTLET_HC_NET_EXCHANGE) == .resume)
        let reply = f.guest.get(swiftlet_hc_net_exchange.self, at: f.request)
        #expect(reply.ready_set == SWIFTLET_POLL_SHUTDOWN)
        #expect(reply.read.completed == 0 && reply.read.result == Int32(SWIFTLET_R_ENODEV.rawValue),
                "the shutdown bit is no device's")
    }
}
