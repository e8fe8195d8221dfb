// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/async-echo` compiles Sources/async-echo into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "async-echo",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "async-echo", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
