// swift-tools-version: 6.0
// Swiftlet: unikernels in Swift. The folder tree tells the story:
//   Sources/ABI      the contract between tender and guest (one C header)
//   Sources/Guest    the guest library OS (Embedded Swift; also builds here for tests)
//   Sources/Tender   the monitors: hvt (KVM) and spt (seccomp process), sharing Core
//   Sources/CLI      the `swiftlet` front door and the image builder behind it
import PackageDescription

let staticTender: [LinkerSetting] = [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]

let package = Package(
    name: "Swiftlet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swiftlet", targets: ["swiftlet"]),
        .executable(name: "swiftlet-hvt", targets: ["swiftlet-hvt"]),
        .executable(name: "swiftlet-spt", targets: ["swiftlet-spt"]),
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

        .target(name: "CTender", path: "Sources/Tender/CShim"),
        .target(name: "TenderCore", dependencies: ["SwiftletABI", "CTender"], path: "Sources/Tender/Core"),
        .executableTarget(name: "swiftlet-hvt", dependencies: ["TenderCore"], path: "Sources/Tender/hvt",
                          linkerSettings: staticTender),
        .executableTarget(name: "swiftlet-spt", dependencies: ["TenderCore"], path: "Sources/Tender/spt",
                          linkerSettings: staticTender),

        .target(name: "SwiftletBuild", dependencies: [
            "TenderCore", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Sources/CLI/Builder"),
        .executableTarget(name: "swiftlet", dependencies: [
            "SwiftletBuild", "TenderCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/CLI/swiftlet"),

        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(name: "GuestTests", dependencies: ["Swiftlet", "TestSupport"]),
        .testTarget(name: "TenderTests", dependencies: ["TenderCore", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["SwiftletBuild", "TenderCore"]),
    ]
)
