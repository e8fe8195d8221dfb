// examples/notes killed with SIGKILL at random moments while a client writes through its HTTP
// API, and restarted on the same disk each time: every note the guest acknowledged (answered
// 200 once its commit was durable) must be there at the end with exactly its content, no note
// may hold anything but what was sent for it, and the store must never report damage. The
// guest runs in a network namespace of its own on a tap (TapNamespace) with a static address.
import Foundation
import SwiftletBuild
import Testing

@Suite(.enabled(if: TapNamespace.available, "skipped: needs root and iproute2 to create a network namespace with a tap"),
       .serialized)
struct NotesTests {
    static let kills = 20
    static var tool: String {
        get throws { try SwiftletHome.locate().root.appendingPathComponent("Tests/Tools/notes_client.py").path }
    }

    /// One boot of the notes guest on `disk`, attached to the namespace's tap.
    final class Boot {
        let process = Process()
        let exit: Harness.ExitWatch
        let console: URL

        init(_ image: URL, target: Target, namespace: TapNamespace, disk: String, label: String, memory: String = "32M") throws {
            console = Harness.scratch.appendingPathComponent("notes-\(label).console")
            _ = FileManager.default.createFile(atPath: console.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace.name, Harness.tender(target).path, "--mem", memory, "--net", "tap:tap0",
                                 "--disk", disk, "--disk-size", "64M", image.path, "--", "ip=\(TapNamespace.guestAddress)/24", "log=off"]
            process.standardOutput = try FileHandle(forWritingTo: console)
            process.standardError = process.standardOutput
            exit = Harness.ExitWatch(process)
            try process.run()
            exit.watch(process)
        }

        var output: String { (try? String(contentsOf: console, encoding: .utf8)) ?? "" }

        /// Waits for the serving line; nil, or what went wrong.
        func waitUntilServing() -> String? {
            let deadline = Date().addingTimeInterval(20)
            while !output.contains("notes: serving on") {
                if exit.hasEnded || Date() > deadline { return "did not start serving: \(output)" }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            if exit.wait(timeout: Harness.exitAfterKillTimeout) == nil { Issue.record("the tender outlived SIGKILL") }
        }
    }

    @Test(arguments: runnableTargets)
    func acknowledgedNotesSurviveTwentyKills(target: Target) throws {
        let image = try Harness.example("notes")
        let namespace = try TapNamespace("notes-\(target)")
        let disk = Harness.scratch.appendingPathComponent("notes-\(target).img").path
        try? FileManager.default.removeItem(atPath: disk)
        var acknowledged = Set<Int>()
        var next = 0
        var random = SystemRandomNumberGenerator()
        let started = Date()
        for round in 0..<Self.kills {
            guard Date().timeIntervalSince(started) < 300 else { Issue.record("only \(round) kills in 300 s"); break }
            let boot = try Boot(image, target: target, namespace: namespace, disk: disk, label: "\(target)-\(round)")
            if let problem = boot.waitUntilServing() { boot.kill(); Issue.record("round \(round): \(problem)"); return }
            #expect(!boot.output.contains("damage:"), "round \(round): \(boot.output)")
            #expect(round == 0 || boot.output.contains(": \(acknowledged.count) keys") || boot.output.contains(": \(acknowledged.count + 1) keys"),
                    "round \(round): \(acknowledged.count) notes acknowledged so far, the guest says: \(boot.output)")
            // The client writes until the guest dies under it; the kill comes after 50-800 ms.
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            client.arguments = ["netns", "exec", namespace.name, "python3", try Self.tool, TapNamespace.guestAddress, "put", "\(next)", "30"]
            let output = Pipe(), printed = Harness.Collected(), reader = DispatchGroup()
            client.standardOutput = output
            try client.run()
            DispatchQueue.global().async(group: reader) {
                while case let chunk = output.fileHandleForReading.availableData, !chunk.isEmpty { printed.append(chunk) }
            }
            // The kill comes 50-800 ms after the first acknowledgement, not after the start: on a
            // loaded machine the client's start alone can take longer than that.
            let firstAck = Date().addingTimeInterval(15)
            while !printed.text.contains("ack "), client.isRunning, Date() < firstAck { Thread.sleep(forTimeInterval: 0.01) }
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.8, using: &random))
            boot.kill()
            // An answer already on its way still arrives; then the client, whose connection
            // now leads nowhere (no reset comes from a dead guest), is stopped.
            Thread.sleep(forTimeInterval: 0.2)
            kill(client.processIdentifier, SIGKILL)
            client.waitUntilExit()
            reader.wait()
            try? output.fileHandleForReading.close()
            let lines = printed.text.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("refused") }, "round \(round): \(lines.suffix(3))")
            for line in lines where line.hasPrefix("ack ") { if let number = Int(line.dropFirst(4)) { acknowledged.insert(number) } }
            next = (acknowledged.max() ?? -1) + 1
        }
        #expect(acknowledged.count > Self.kills, "only \(acknowledged.count) notes were acknowledged")

        // The listing answers every note in one body: on a quiet machine the rounds write ~17,000
        // (7 MB of JSON, built in the heap), which 32M cannot hold.
        let final = try Boot(image, target: target, namespace: namespace, disk: disk, label: "\(target)-final", memory: "256M")
        defer { final.kill() }
        if let problem = final.waitUntilServing() { Issue.record(Comment(rawValue: problem)); return }
        #expect(!final.output.contains("damage:"), "\(final.output)")
        let listing = try namespace.run(["python3", try Self.tool, TapNamespace.guestAddress, "get", "/api/notes"], timeout: 60)
        let response = try #require(try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: Any], "\(listing.stderr)")
        #expect(response["status"] as? Int == 200)
        let notes = try #require(try JSONSerialization.jsonObject(with: Data(((response["body"] as? String) ?? "").utf8)) as? [[String: Any]])
        // Every stored note is exactly what the client sent for its number (notes_client.py's note_body).
        var stored = Set<Int>()
        for note in notes {
            guard let id = note["id"] as? String, id.hasPrefix("n"), let number = Int(id.dropFirst()),
                  let body = note["note"] as? [String: Any] else {
                Issue.record("a note that no client wrote: \(note)")
                continue
            }
            let text = "note \(number) " + String(repeating: "x", count: number * 37 % 700)
            #expect(body["text"] as? String == text && body["n"] as? Int == number && body.count == 2, "note \(number) holds \(body)")
            stored.insert(number)
        }
        let missing = acknowledged.subtracting(stored).sorted()
        #expect(missing.isEmpty, "acknowledged notes lost: \(missing.prefix(20)) of \(acknowledged.count)")
        // A second guest on the same disk while this one runs is refused.
        let second = try Harness.run(Harness.tender(target), ["--mem", "32M", "--disk", disk, image.path])
        #expect(second.status == 125 && second.stderr.contains("in use by another running guest"), "\(second.stderr)")
    }
}
