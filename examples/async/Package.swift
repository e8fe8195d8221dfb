// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/async` compiles Sources/async into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "async",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "async", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
