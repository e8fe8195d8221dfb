// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/debugging` compiles Sources/debugging into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "debugging",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "debugging", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
