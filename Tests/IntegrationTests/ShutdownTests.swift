// Graceful shutdown, end to end on every runnable target: examples/web in a network namespace
// of its own gets SIGTERM while an upload is under way (Tests/Tools/shutdown_client.py drives
// the clients and sends the signals from inside the namespace, and times them). The checks:
// the upload is answered 200 with `Connection: close`, an idle keep-alive connection is
// closed, a new client is refused, the guest exits 0 soon after; a second SIGTERM ends it at
// once; the grace period's deadline ends a guest still busy; a guest that never watches for
// shutdown ends at once. Timings are printed (signal → exit), for the record.
import Foundation
import SwiftletBuild
import Testing

@Suite(.enabled(if: TapNamespace.available, "skipped: needs root and iproute2 to create a network namespace with a tap"),
       .serialized)
struct ShutdownTests {
    static var tool: String {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/Tools/shutdown_client.py").path }
    }

    static func drive(_ guest: WebGuest, _ mode: String, pid: pid_t? = nil, timeout: TimeInterval = 60) throws -> JSON {
        let outcome = try guest.namespace.run(["python3", try tool, guest.address, "\(pid ?? guest.pid)", mode], timeout: timeout)
        let json = try #require(JSON(parsing: outcome.stdout),
                                "shutdown_client.py \(mode): \(outcome.stdout) \(outcome.stderr); the guest \(guest.state): \(guest.console)")
        print("shutdown timings, \(guest.target), \(mode): \(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        return json
    }

    @Test(arguments: runnableTargets)
    func sigtermDrainsTheRequestUnderWayAndExitsZero(target: Target) throws {
        let guest = try WebGuest(target, "drain")
        let report = try Self.drive(guest, "drain")
        let output = guest.stop()
        #expect(report["idle_answered"].bool == true, "\(report) \(output)")
        #expect(report["idle_closed_by_guest"].bool == true, "the idle keep-alive connection is closed with a FIN: \(report)")
        #expect(report["new_client"].string == "refused", "\(report)")
        #expect(report["running_while_upload_pending"].bool == true, "\(report)")
        #expect(report["upload"]["status"].int == 200, "\(report) \(output)")
        #expect(report["upload"]["body"].string == "helloworld", "\(report)")
        #expect(report["upload"]["connection_close"].bool == true, "\(report)")
        let exitAt = try #require(report["exit_at"].double, "the guest did not exit: \(report) \(output)")
        #expect(exitAt < 10, "within the grace period: \(report)")
        let ending = try #require(guest.ending(timeout: 5))
        #expect(ending.signal == nil && ending.status == 0, "a drained guest exits 0: \(ending) \(output)")
        // examples/web also serves 443 when a developer has run `swiftlet cert` on it.
        #expect(output.contains("http: shutdown requested: closing port 80")
                    || output.contains("http: shutdown requested: closing ports 80, 443"), "\(output)")
        #expect(output.contains("http: drained in "), "\(output)")
    }

    @Test(arguments: runnableTargets)
    func aSecondSigtermEndsTheGuestAtOnce(target: Target) throws {
        let guest = try WebGuest(target, "twice")
        let report = try Self.drive(guest, "twice")
        #expect(report["running_after_first"].bool == true, "the first SIGTERM starts a drain: \(report)")
        let after = try #require(report["exit_after_second"].double, "\(report) \(guest.stop())")
        #expect(after < 1, "\(report)")
        let ending = try #require(guest.ending(timeout: 5))
        #expect(ending.signal == SIGTERM, "ended by the signal itself (143 in a shell): \(ending)")
    }

    @Test(arguments: runnableTargets)
    func theGracePeriodsDeadlineEndsABusyGuest(target: Target) throws {
        let guest = try WebGuest(target, "deadline", tenderArguments: ["--grace-period", "2"])
        let report = try Self.drive(guest, "stall")
        let exitAt = try #require(report["exit_at"].double, "\(report) \(guest.stop())")
        #expect(exitAt >= 1.9 && exitAt < 4, "the upload never finishes: ended at the 2 s deadline: \(report)")
        let ending = try #require(guest.ending(timeout: 5))
        #expect(ending.signal == SIGTERM, "\(ending)")
    }

    /// As PID 1 of a PID namespace (a container's entrypoint under podman or Kubernetes), where
    /// the kernel drops signals whose action is the default: the drain ends in status 0, and a
    /// second SIGTERM still ends the guest at once, with status 143.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "skipped: no unshare(1)"),
          arguments: runnableTargets)
    func asPIDOneOfAPIDNamespaceTheDrainAndTheSecondSignalWorkToo(target: Target) throws {
        for mode in ["drain", "twice"] {
            let guest = try WebGuest(target, "pid1-\(mode)", wrapper: ["unshare", "--pid", "--fork", "--kill-child"])
            let tender = try #require(Self.children(of: guest.pid).first, "no tender under unshare")
            let status = try String(contentsOfFile: "/proc/\(tender)/status", encoding: .utf8)
            #expect(status.contains("NSpid:\t\(tender)\t1\n"), "the tender is PID 1 of its namespace: \(status)")
            let report = try Self.drive(guest, mode, pid: tender)
            let ending = try #require(guest.ending(timeout: 10), "\(report) \(guest.stop())")
            if mode == "drain" {
                #expect(report["upload"]["status"].int == 200, "\(report)")
                #expect(ending.signal == nil && ending.status == 0, "\(ending) \(report)")
            } else {
                #expect(report["running_after_first"].bool == true, "\(report)")
                #expect((report["exit_after_second"].double ?? 99) < 1, "\(report)")
                #expect(ending.signal == nil && ending.status == 143, "128 + SIGTERM from PID 1: \(ending)")
            }
        }
    }

    /// examples/echo never watches for shutdown: SIGTERM ends it as it ends any process.
    @Test(arguments: runnableTargets)
    func aGuestThatDoesNotWatchEndsAtOnce(target: Target) throws {
        let image = try Harness.example("echo")
        let namespace = try TapNamespace("noshutdown-\(target)")
        var sentAt = Date()
        let result = try namespace.run([Harness.tender(target).path, "--net", "tap:tap0", image.path, "--",
                                        "ip=\(TapNamespace.guestAddress)/24"], timeout: 20) { process in
            Thread.sleep(forTimeInterval: 0.5)
            sentAt = Date()
            kill(process.processIdentifier, SIGTERM)
        }
        let took = Date().timeIntervalSince(sentAt)
        print("shutdown timings, \(target), no handler: SIGTERM → exit observed after \(String(format: "%.4f", took)) s")
        #expect(result.signal == SIGTERM, "status \(result.status) \(result.stdout) \(result.stderr)")
        #expect(took < 2, "no grace period for a guest that never asked for one (\(took) s)")
    }

    /// Through `swiftlet run -p` (the launcher execs the tender; passt, its child, forwards the
    /// port): SIGTERM to what the user started drains the guest, which exits 0, and passt ends
    /// with it. passt accepts a new client on the host side itself, so refusal is not checked here.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/passt"),
                   "skipped: passt is not installed (apt-get install passt), so -p cannot be tested"))
    func swiftletRunWithPasstDrainsAndLeavesNoPasstBehind() throws {
        let image = try Harness.example("web")
        let port = 32000 + Int(getpid() % 8000)
        var report: JSON?
        var passtGroups: (passt: pid_t, tender: pid_t)?
        var passtPID: pid_t?
        let run = try Harness.run(Harness.cli, ["run", "--target", runnableTargets.first!.rawValue, "--grace-period", "5",
                                                "-p", "\(port):80", image.path], timeout: 90) { process in
            let pid = process.processIdentifier
            let curl = URL(fileURLWithPath: "/usr/bin/curl")
            for _ in 0..<60 {   // DHCP through passt, then the port: bounded, 60 × 0.25 s
                if let page = try? Harness.run(curl, ["-s", "--max-time", "2", "http://127.0.0.1:\(port)/api/status"], timeout: 5),
                   page.stdout.contains("uptime_ms") { break }
                Thread.sleep(forTimeInterval: 0.25)
            }
            passtPID = Self.children(of: pid).first
            if let passt = passtPID { passtGroups = (getpgid(passt), getpgid(pid)) }
            let outcome = try? Harness.run(URL(fileURLWithPath: "/usr/bin/env"),
                                           ["python3", try! Self.tool, "127.0.0.1:\(port)", "\(pid)", "drain"], timeout: 60)
            report = outcome.flatMap { JSON(parsing: $0.stdout) }
            print("shutdown timings, swiftlet run -p, drain: \(outcome?.stdout ?? "none") \(outcome?.stderr ?? "")")
        }
        let drained = try #require(report, "no report: \(run.stdout) \(run.stderr)")
        #expect(drained["upload"]["status"].int == 200, "\(drained) \(run.stdout) \(run.stderr)")
        #expect(drained["upload"]["body"].string == "helloworld", "\(drained)")
        #expect(drained["idle_closed_by_guest"].bool == true, "\(drained)")
        #expect(run.signal == nil && run.status == 0, "swiftlet run exits 0 after the drain: \(run.status) \(run.stderr)")
        #expect(run.stdout.contains("http: drained in "), "\(run.stdout)")
        let groups = try #require(passtGroups, "passt was not found among the tender's children")
        #expect(groups.passt != groups.tender, "passt has a process group of its own, out of a terminal's Ctrl-C")
        let passt = try #require(passtPID)
        let deadline = Date().addingTimeInterval(5)
        while kill(passt, 0) == 0 && !Self.isZombie(passt) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(kill(passt, 0) != 0 || Self.isZombie(passt), "passt \(passt) outlived the tender")
    }

    static func children(of pid: pid_t) -> [pid_t] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { pid_t($0) }
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }
}
