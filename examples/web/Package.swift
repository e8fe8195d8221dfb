// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/web` compiles Sources/web into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "web",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "web", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
