// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/crash` compiles Sources/crash into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "crash",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "crash", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
