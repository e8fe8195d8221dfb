// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/hello` compiles Sources/hello into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "hello",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "hello", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
