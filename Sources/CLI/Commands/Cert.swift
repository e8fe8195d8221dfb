// `swiftlet cert [APP]`: a development certificate for an application's HTTPS (SwiftletTLS),
// signed by a per-user development CA that clients are told to trust.
import ArgumentParser
import Foundation
import SwiftletBuild

struct Cert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a development certificate for an application's HTTPS (APP/tls/cert.pem and key.pem).",
        discussion: """
        The certificate is signed by a development CA made once per user (in \
        $XDG_DATA_HOME/swiftlet/dev-ca, else ~/.local/share/swiftlet/dev-ca); trust that CA in \
        your clients, never in production. By hand, the same with openssl:
          openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \\
            -keyout APP/tls/key.pem -out APP/tls/cert.pem -subj /CN=localhost \\
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1
        (a self-signed certificate: clients then trust cert.pem itself).
        """)

    @Argument(help: "The application folder (its tls/ folder is written).")
    var application: String = "."

    @Option(name: .customLong("name"), help: "A DNS name or IP address the certificate is for (repeatable; default: localhost and 127.0.0.1).")
    var names: [String] = []

    @Option(help: "Days the certificate is valid.")
    var days: Int = 90

    @Option(help: "Key kind: ecdsa (P-256) or rsa (2048 bits).")
    var key: DevelopmentCertificates.KeyKind = .ecdsa

    @Option(help: "Where the development CA is (made there if missing).")
    var ca: String?

    func validate() throws {
        guard days > 0 && days <= 825 else { throw ValidationError("--days \(days): give 1 to 825 (what browsers accept)") }
    }

    func run() throws {
        try Self.issue(for: URL(fileURLWithPath: application), names: names, days: days, key: key,
                       authority: ca.map { URL(fileURLWithPath: $0) })
    }

    /// Writes APP/tls/cert.pem and key.pem signed by the development CA (made if missing) and
    /// says how to trust it; `swiftlet new --template web --tls` runs this too.
    @discardableResult
    static func issue(for application: URL, names: [String] = [], days: Int = 90, key: DevelopmentCertificates.KeyKind = .ecdsa,
                      authority: URL? = nil) throws -> DevelopmentCertificates {
        let folder = application.standardizedFileURL.appendingPathComponent("tls")
        let certificates = try DevelopmentCertificates(authority: authority)
        if try certificates.ensureAuthority() { say("made a development CA: \(certificates.certificateAuthority.path)") }
        try certificates.issue(into: folder, names: names.isEmpty ? defaultNames : names, days: days, key: key)
        say("wrote \(folder.path)/cert.pem and key.pem (\(key == .ecdsa ? "ECDSA P-256" : "RSA 2048"), \(days) days); `swiftlet build` embeds them")
        say("trust the CA: curl --cacert \(certificates.certificateAuthority.path) ...")
        say("chromium: --ignore-certificate-errors-spki-list=\(try certificates.authoritySPKIHash())")
        return certificates
    }

    static let defaultNames = ["localhost", "127.0.0.1"]
}

extension DevelopmentCertificates.KeyKind: ExpressibleByArgument {}
