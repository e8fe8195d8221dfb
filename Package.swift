// swift-tools-version: 6.0
// Swiftlet: unikernels in Swift. The folder tree tells the story:
//   Sources/ABI      the contract between tender and guest (one C header)
//   Sources/Guest    the guest library OS (Embedded Swift; also builds here for tests)
//   Sources/Tender   the monitors: hvt (KVM) and spt (seccomp process), sharing Core
//   Sources/CLI      the `swiftlet` front door (a static launcher, the full CLI) and the image builder
import PackageDescription

// Static executables start in well under a millisecond. lld, because the default linker warns
// about glibc's static `dlopen` on every link, and that noise reached users on first run.
let staticExecutable: [LinkerSetting] = [.unsafeFlags(["-static-executable", "-use-ld=lld", "-Xlinker", "--gc-sections"])]
// The tenders link musl (Debian's musl-dev) instead: static glibc's start-up, stdio and locale
// code is ~690 KB of a tender, musl's ~30 KB. Their C shim and the Swift code's view of C
// both read musl's headers first (the kernel's, linux/kvm.h and the like, still come from
// /usr/include); the link takes musl's start file and libc.a in place of the toolchain's.
// --icf=all folds functions with identical code (53 sections of swiftlet-hvt, mostly generic
// specializations, -4.4 KB); no tender code compares function addresses.
let muslHeaders = "/usr/include/x86_64-linux-musl", muslLibraries = "/usr/lib/x86_64-linux-musl"
let muslCHeaders: [CSetting] = [.unsafeFlags(["-isystem", muslHeaders])]
let muslSwiftHeaders: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-isystem", "-Xcc", muslHeaders])]
let muslStaticExecutable: [LinkerSetting] = [.unsafeFlags([
    "-static-executable", "-use-ld=lld", "-L\(muslLibraries)", "-Xclang-linker", "-nostdlib",
    "-Xlinker", "\(muslLibraries)/crt1.o", "-Xlinker", "--gc-sections", "-Xlinker", "--icf=all", "-Xlinker", "\(muslLibraries)/libc.a",
])]
// The launcher is Embedded Swift: no Swift runtime starts before it execs a tender.
let embeddedSwift: [SwiftSetting] = [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo"])]
let optimizedForSize: [SwiftSetting] = [.unsafeFlags(["-Osize"], .when(configuration: .release))]
// One section per function, so --gc-sections drops what a tender never calls (Core is shared
// with the CLI: its image inspection, size report and policy printing have no caller in a
// tender; 1,549 functions, 103 KB).
let functionSections: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-function-sections"])]
// Like Solo5's solo5-hvt and solo5-hvt-debug: `swiftlet-hvt` and `swiftlet-spt` are lean, and
// their `-debug` twins, compiled from the same files with this condition, add the GDB server
// and core files (Core/Boot/TenderFlavor.swift). TenderCore, for the CLI and tests, has it all.
let debugTender: [SwiftSetting] = [.define("SWIFTLET_DEBUG_TENDER")]
// At -Osize, Swift's inliner still credits every call with the saving of the call itself (20 by
// its cost model), divided by this factor (default 2): inlining for that alone copied callees
// into every caller (swiftlet-hvt 348,632 -> 265,488 bytes stripped with 32, which leaves the
// credit 0; callees are still inlined where it removes work: constant arguments, closures).
let fewerInlinedCalls: [SwiftSetting] = [.unsafeFlags([
    "-Xfrontend", "-sil-inline-caller-benefit-reduction-factor", "-Xfrontend", "32"], .when(configuration: .release))]
let tenderSettings = embeddedSwift + optimizedForSize + functionSections + muslSwiftHeaders + fewerInlinedCalls

let package = Package(
    name: "Swiftlet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swiftlet", targets: ["swiftlet"]),
        .executable(name: "swiftlet-cli", targets: ["swiftlet-cli"]),
        .executable(name: "swiftlet-hvt", targets: ["swiftlet-hvt"]),
        .executable(name: "swiftlet-spt", targets: ["swiftlet-spt"]),
        .executable(name: "swiftlet-hvt-debug", targets: ["swiftlet-hvt-debug"]),
        .executable(name: "swiftlet-spt-debug", targets: ["swiftlet-spt-debug"]),
        .library(name: "Swiftlet", targets: ["Swiftlet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 of embedded assets (ETags, manifests); the builder only, never the guest or tenders.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .target(name: "SwiftletABI", path: "Sources/ABI"),
        .target(name: "Swiftlet", dependencies: ["SwiftletABI"], path: "Sources/Guest",
                exclude: ["Freestanding"]),

        .target(name: "CTender", dependencies: ["SwiftletABI"], path: "Sources/Tender/CShim"),
        // Core as a full-Swift library: for the CLI (inspect, packaging, virtio) and the tests.
        .target(name: "TenderCore", dependencies: ["SwiftletABI", "CTender"], path: "Sources/Tender/Core",
                swiftSettings: debugTender),
        // The same C shim against musl, for the tenders: its folder links CShim's files (one
        // module, CTender, by CShim's module map) and adds the tenders' own malloc.
        .target(name: "CTenderMusl", dependencies: ["SwiftletABI"], path: "Sources/Tender/CShimMusl", cSettings: muslCHeaders),
        // The tenders are Embedded Swift, linked statically against musl, with no Swift runtime
        // to start, where the full runtime made them 7-11 MB. An Embedded module cannot import a
        // full-Swift one, so each tender compiles Core's sources itself: its folder holds a
        // link, Core -> ../Core. A debug tender's folder holds one link to its lean twin's
        // folder (hvt-debug/hvt -> ../hvt), so both compile the very same files.
        .executableTarget(name: "swiftlet-hvt", dependencies: ["CTenderMusl", "SwiftletABI"], path: "Sources/Tender/hvt",
                          swiftSettings: tenderSettings, linkerSettings: muslStaticExecutable),
        .executableTarget(name: "swiftlet-spt", dependencies: ["CTenderMusl", "SwiftletABI"], path: "Sources/Tender/spt",
                          swiftSettings: tenderSettings, linkerSettings: muslStaticExecutable),
        .executableTarget(name: "swiftlet-hvt-debug", dependencies: ["CTenderMusl", "SwiftletABI"], path: "Sources/Tender/hvt-debug",
                          swiftSettings: tenderSettings + debugTender, linkerSettings: muslStaticExecutable),
        .executableTarget(name: "swiftlet-spt-debug", dependencies: ["CTenderMusl", "SwiftletABI"], path: "Sources/Tender/spt-debug",
                          swiftSettings: tenderSettings + debugTender, linkerSettings: muslStaticExecutable),

        // `swiftlet`: from `run IMAGE` to execve of the tender with no Swift runtime or Foundation
        // loaded; hands every other command to `swiftlet-cli`.
        .target(name: "CRunShim", path: "Sources/CLI/RunShim"),
        .target(name: "SwiftletRun", dependencies: ["CRunShim", "SwiftletABI"], path: "Sources/CLI/Run",
                swiftSettings: embeddedSwift),
        .executableTarget(name: "swiftlet", dependencies: ["SwiftletRun", "CRunShim"], path: "Sources/CLI/Launcher",
                          swiftSettings: embeddedSwift, linkerSettings: staticExecutable),
        // zlib: gzip-compressed image layers (`swiftlet package`); the builder only.
        .systemLibrary(name: "CZlib", path: "Sources/CLI/Zlib"),
        .target(name: "SwiftletBuild", dependencies: [
            "TenderCore", "CZlib", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Sources/CLI/Builder"),
        .executableTarget(name: "swiftlet-cli", dependencies: [
            "SwiftletBuild", "TenderCore", "CRunShim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI/Commands"),

        .target(name: "TestSupport", dependencies: ["Swiftlet"], path: "Tests/Support"),
        // Linked into every test bundle: SIGPIPE ignored before any test runs.
        .target(name: "ProcessSetup", path: "Tests/ProcessSetup"),
        .testTarget(name: "GuestTests", dependencies: ["Swiftlet", "TestSupport", "ProcessSetup"]),
        // ELFBuilder: hand-made images for the loader's unit tests and the integration tests' attack guests.
        .target(name: "TenderTestSupport", dependencies: ["TenderCore", "SwiftletABI"], path: "Tests/TenderTestSupport"),
        .testTarget(name: "TenderTests", dependencies: ["TenderCore", "TestSupport", "TenderTestSupport", "ProcessSetup"]),
        .testTarget(name: "IntegrationTests", dependencies: ["SwiftletBuild", "TenderCore", "SwiftletABI", "TenderTestSupport", "ProcessSetup"]),
    ]
)
