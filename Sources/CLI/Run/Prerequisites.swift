// What `swiftlet run` needs from the host, checked before anything is built or started, so a
// missing piece is reported (or fixed) in a moment instead of after a compile.
import CRunShim

public enum Prerequisites {
    /// Every check `run` can make up front. Installs passt when it is missing, `-p` needs it,
    /// and we are root with apt-get (one line says so; SWIFTLET_NO_INSTALL=1 turns that off).
    /// (--mem is checked by the tender, or by the full CLI before it builds an application.)
    public static func check(_ options: RunOptions) throws(Refusal) {
        switch Host.kind(of: options.image) {
        case .missing:
            throw Refusal("\(options.image) does not exist; build an image with `swiftlet build` or create an application with `swiftlet new NAME`")
        case .regular where ImageFile.isImage(options.image) && options.assets != nil:
            throw Refusal("--assets applies when building an application; \(options.image) is already an image (rebuild it with `swiftlet build --assets DIR`)")
        default: break
        }
        if options.target == .hvt, let problem = kvmProblem {
            throw Refusal("--target hvt needs KVM, and \(problem); use --target spt (a seccomp-confined process)")
        }
        if Host.kind(of: options.image) == .directory, BearSSL.isNeeded(byApplicationAt: options.image) {
            try bearSSL()
        }
        switch options.effectiveNetwork {
        case .none: break
        case .tap(let name):
            guard options.publish.isEmpty else {
                throw Refusal("-p needs the passt network; with --net tap:NAME, reach the guest at its address on the tap")
            }
            try checkTap(name)
        case .passt:
            _ = try passt()
        }
    }

    /// Why hvt cannot run here, or nil when /dev/kvm is usable.
    public static var kvmProblem: String? {
        if access("/dev/kvm", R_OK | W_OK) == 0 { return nil }
        switch run_shim_errno() {
        case ENOENT: return "there is no /dev/kvm here (KVM is not enabled on this machine)"
        case EACCES, EPERM: return "/dev/kvm is not accessible to this user (add the user to the kvm group)"
        default: return "/dev/kvm is not usable here (\(Host.errorText))"
        }
    }

    /// The tap interface must exist already: attaching a missing name would make the kernel
    /// create a new, unconfigured tap, and the guest would wait for DHCP in vain.
    public static func checkTap(_ name: String) throws(Refusal) {
        guard !name.isEmpty, name.utf8.count <= 15, !name.contains("/"), name != ".", name != ".." else {
            throw Refusal("--net tap:\(name): not a network interface name (at most 15 bytes, no '/')")
        }
        guard Host.kind(of: "/sys/class/net/\(name)") != .missing else {
            throw Refusal("there is no network interface named \(name); create the tap first (as root: ip tuntap add \(name) mode tap), or publish ports with -p HOST:GUEST instead")
        }
        guard Host.kind(of: "/sys/class/net/\(name)/tun_flags") == .regular else {
            throw Refusal("\(name) is not a tap interface; give a tap (ip tuntap add NAME mode tap), or publish ports with -p HOST:GUEST")
        }
    }

    /// passt's path; installs it first where we may (see `check`).
    public static func passt() throws(Refusal) -> String {
        if let passt = Passt.executable { return passt }
        try install(Passt.debianPackage, providing: "passt (user-mode networking for -p)", otherwise: ", or use --net tap:NAME")
        guard let passt = Passt.executable else { throw installFailed(Passt.debianPackage) }
        return passt
    }

    /// BearSSL, which an application that imports SwiftletTLS links; installed first where we may.
    public static func bearSSL() throws(Refusal) {
        if BearSSL.isInstalled { return }
        try install(BearSSL.debianPackage, providing: "BearSSL (HTTPS for applications that import SwiftletTLS)")
        guard BearSSL.isInstalled else { throw installFailed(BearSSL.debianPackage) }
    }

    /// musl, which the tenders link statically: needed to build them; installed first where we may.
    public static func musl() throws(Refusal) {
        if Musl.isInstalled { return }
        try install(Musl.debianPackage, providing: "musl (the C library the tenders are linked with)")
        guard Musl.isInstalled else { throw installFailed(Musl.debianPackage) }
    }

    /// Installs a missing Debian package with one line saying so, where we may: as root, with
    /// apt-get, unless SWIFTLET_NO_INSTALL is set. Elsewhere refuses with the exact command.
    static func install(_ package: String, providing what: String, otherwise alternative: String = "") throws(Refusal) {
        let command = installCommand(package)
        guard Host.isRoot, let aptGet = Host.findProgram("apt-get"), Host.environment("SWIFTLET_NO_INSTALL") == nil else {
            throw Refusal("\(what) is not installed; install it with `\(command)`\(alternative)")
        }
        Console.say("\(what) is not installed; installing it: \(command) (log: \(installLog))")
        setenv("DEBIAN_FRONTEND", "noninteractive", 1)
        // A fresh system may have no package lists yet: update once if the first try fails.
        if Host.run(aptGet, ["install", "-y", "-q", package], log: installLog).status != 0 {
            _ = Host.run(aptGet, ["update", "-q"], log: installLog)
            _ = Host.run(aptGet, ["install", "-y", "-q", package], log: installLog)
        }
    }

    static var installLog: String { "\(Host.cacheFolder)/install.log" }

    static func installFailed(_ package: String) -> Refusal {
        Refusal("installing \(package) failed; see \(installLog):\n\(Host.tail(ofFile: installLog, lines: 5))")
    }

    /// The exact command that installs a Debian package, for this user.
    public static func installCommand(_ package: String) -> String {
        (Host.isRoot ? "" : "sudo ") + "apt-get install -y \(package)"
    }
}

/// Debian's musl-dev, where Package.swift links the tenders from.
enum Musl {
    static let debianPackage = "musl-dev"
    static let library = "/usr/lib/x86_64-linux-musl/libc.a"
    static var isInstalled: Bool { Host.kind(of: root + library) == .regular }

    /// A test seam like BearSSL's: SWIFTLET_MUSL_ROOT names a folder the presence check looks in
    /// instead of `/`. Package.swift still links the system's copy.
    static var root: String { Host.environment("SWIFTLET_MUSL_ROOT") ?? "" }
}

/// Debian's libbearssl-dev, as the builder looks for it (SwiftletBuild's BearSSLInstallation).
enum BearSSL {
    static let debianPackage = "libbearssl-dev"
    static let header = "/usr/include/bearssl/bearssl.h"
    static let archives = ["/usr/lib/x86_64-linux-gnu/libbearssl.a", "/usr/lib/libbearssl.a", "/usr/local/lib/libbearssl.a"]

    static var isInstalled: Bool {
        Host.kind(of: root + header) == .regular && archives.contains { Host.kind(of: root + $0) == .regular }
    }

    /// A test seam: SWIFTLET_BEARSSL_ROOT names a folder the presence check looks in instead of
    /// `/`, so the suite can see BearSSL missing (or installed by a stand-in apt-get) on a
    /// machine that has it. The builder still links the system's copy.
    static var root: String { Host.environment("SWIFTLET_BEARSSL_ROOT") ?? "" }

    /// Whether a Swift file of the application mentions `import SwiftletTLS` (a stray mention
    /// costs only an install that would not have been needed).
    static func isNeeded(byApplicationAt folder: String) -> Bool {
        let needle = Array("import SwiftletTLS".utf8)
        return Host.files(under: "\(folder)/Sources", endingIn: ".swift").contains { path in
            guard let text = Host.contents(ofFile: path, limit: 4 << 20), text.count >= needle.count else { return false }
            return (0 ... text.count - needle.count).contains { text[$0 ..< $0 + needle.count].elementsEqual(needle) }
        }
    }
}
