// `swiftlet cert`: a development certificate authority (made once per user, its key never in
// an application) and, for an application, a server certificate it signs, written to the
// application's tls/ folder, which `swiftlet build` embeds for SwiftletTLS. Made with the
// `openssl` command (Debian's openssl package), the same tool a user would run by hand.
import Foundation

public struct DevelopmentCertificates: Sendable {
    public enum KeyKind: String, Sendable, CaseIterable { case ecdsa, rsa }

    /// Where the CA lives: ca.pem (trust this one) and ca-key.pem.
    public let authority: URL
    public let openssl: URL

    public init(authority: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws(BuildError) {
        let data = environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? "/tmp") + "/.local/share")
        self.authority = authority ?? URL(fileURLWithPath: data).appendingPathComponent("swiftlet/dev-ca")
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("openssl") }
        guard let openssl = (path + [URL(fileURLWithPath: "/usr/bin/openssl")]).first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw .toolchain("`swiftlet cert` runs openssl, which is missing: install it with `apt-get install -y openssl`")
        }
        self.openssl = openssl
    }

    public var certificateAuthority: URL { authority.appendingPathComponent("ca.pem") }
    var authorityKey: URL { authority.appendingPathComponent("ca-key.pem") }

    /// Makes the CA unless it exists; true when it was made now.
    @discardableResult
    public func ensureAuthority() throws(BuildError) -> Bool {
        if FileManager.default.fileExists(atPath: certificateAuthority.path) && FileManager.default.fileExists(atPath: authorityKey.path) {
            return false
        }
        do { try FileManager.default.createDirectory(at: authority, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw .output("cannot create \(authority.path): \(error.localizedDescription)")
        }
        try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", authorityKey.path, "-out", certificateAuthority.path, "-days", "3650",
                 "-subj", "/CN=Swiftlet development CA (\(ProcessInfo.processInfo.hostName))",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return true
    }

    /// Writes `folder`/cert.pem (the server certificate, then the CA) and `folder`/key.pem
    /// (mode 0600), for `names` (DNS names or IP addresses), valid for `days`.
    public func issue(into folder: URL, names: [String], days: Int, key: KeyKind) throws(BuildError) {
        try ensureAuthority()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw .output("cannot create \(folder.path): \(error.localizedDescription)")
        }
        let work = folder.appendingPathComponent(".cert-\(UUID().uuidString)")
        do { try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true) } catch {
            throw .output("cannot create \(work.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: work) }
        let keyFile = work.appendingPathComponent("key.pem"), request = work.appendingPathComponent("request.csr")
        let leaf = work.appendingPathComponent("leaf.pem"), extensions = work.appendingPathComponent("extensions.cnf")
        let keyArguments = key == .ecdsa ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"]
        try run(["req"] + keyArguments + ["-nodes", "-keyout", keyFile.path, "-out", request.path, "-subj", "/CN=\(names.first ?? "localhost")"])
        let alternatives = names.map { Self.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        let text = """
        subjectAltName=\(alternatives)
        basicConstraints=CA:FALSE
        keyUsage=critical,digitalSignature\(key == .rsa ? ",keyEncipherment" : "")
        extendedKeyUsage=serverAuth

        """
        do { try text.write(to: extensions, atomically: true, encoding: .utf8) } catch {
            throw .output("cannot write \(extensions.path): \(error.localizedDescription)")
        }
        let signing = ["x509", "-req", "-in", request.path, "-CA", certificateAuthority.path, "-CAkey", authorityKey.path,
                       "-set_serial", "0x" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(30),
                       "-days", "\(days)", "-sha256", "-extfile", extensions.path, "-out", leaf.path]
        try run(signing)
        do {
            let chain = try Data(contentsOf: leaf) + Data(contentsOf: certificateAuthority)
            try chain.write(to: folder.appendingPathComponent("cert.pem"))
            let target = folder.appendingPathComponent("key.pem")
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.moveItem(at: keyFile, to: target)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target.path)
        } catch {
            throw .output("cannot write the certificate into \(folder.path): \(error.localizedDescription)")
        }
    }

    /// Chromium's `--ignore-certificate-errors-spki-list` value for the CA: base64 SHA-256 of
    /// its SubjectPublicKeyInfo.
    public func authoritySPKIHash() throws(BuildError) -> String {
        let der = try run(["x509", "-in", certificateAuthority.path, "-noout", "-pubkey"])
        let spki = try run(["pkey", "-pubin", "-outform", "DER"], input: der)
        let digest = try run(["dgst", "-sha256", "-binary"], input: spki)
        return digest.base64EncodedString()
    }

    static func isIPAddress(_ name: String) -> Bool {
        var address = in_addr()
        var address6 = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address6) == 1
    }

    @discardableResult
    private func run(_ arguments: [String], input: Data? = nil) throws(BuildError) -> Data {
        let process = Process()
        process.executableURL = openssl
        process.arguments = arguments
        let output = Pipe(), errors = Pipe(), feed = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input == nil ? FileHandle.nullDevice : feed
        do { try process.run() } catch { throw .toolchain("cannot start \(openssl.path): \(error.localizedDescription)") }
        if let input {
            feed.fileHandleForWriting.write(input)
            try? feed.fileHandleForWriting.close()
        }
        let result = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw .toolchain("openssl \(arguments.first ?? "") failed: \(complaint.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result
    }
}
