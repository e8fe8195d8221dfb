// swift-tools-version: 6.0
// A Swiftlet application: `swiftlet build examples/notes` compiles Sources/notes into a
// unikernel image. This manifest lets editors and `swift build` (on the host) see it too.
import PackageDescription

let package = Package(
    name: "notes",
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "notes", dependencies: [.product(name: "Swiftlet", package: "Swiftlet")]),
    ]
)
